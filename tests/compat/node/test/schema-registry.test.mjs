// @kafkajs/confluent-schema-registry against Weir's built-in registry: Avro, JSON
// Schema and Protobuf schemas registered, records encoded with the Confluent wire
// format, produced and fetched through the broker with kafkajs, and decoded by
// looking the schema id up again. Run with: node --test test/schema-registry.test.mjs

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'

import kafkajs from 'kafkajs'
import registryPkg from '@kafkajs/confluent-schema-registry'

import { startBroker } from '../lib/broker.mjs'

const { Kafka, logLevel } = kafkajs
const { SchemaRegistry, SchemaType } = registryPkg
const TEST_TIMEOUT_MS = 120000

let broker, kafka, registry

before(async () => {
  broker = await startBroker()
  kafka = new Kafka({ clientId: 'compat-sr', brokers: [broker.bootstrap], logLevel: logLevel.WARN })
})

after(async () => {
  if (broker) {
    const code = await broker.stop()
    assert.ok(code === 0 || code === null, `weir exited with ${code} after SIGTERM`)
  }
})

function uniqueTopic (prefix) {
  return `compat-sr-${prefix}-${randomBytes(5).toString('hex')}`
}

/** Produces encoded values to a new topic, consumes them back, decodes them. */
async function roundTrip (prefix, encodedValues) {
  const topic = uniqueTopic(prefix)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: encodedValues.map(value => ({ value })) })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: uniqueTopic('g'), maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} records`)), 60000)
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value)
        if (got.length === encodedValues.length) {
          clearTimeout(timer)
          resolve()
        }
      },
    }).catch(reject)
  })
  await consumer.disconnect()
  return Promise.all(got.map(b => registry.decode(b)))
}

test('Avro: register, encode, produce, consume, decode; evolution and a refused change',
  { timeout: TEST_TIMEOUT_MS }, async (t) => {
    if (!broker.registryUrl) return t.skip('no schema registry (COMPAT_REGISTRY_URL)')
    registry = new SchemaRegistry({ host: broker.registryUrl })
    const v1 = {
      type: 'record', name: 'Payment', namespace: 'com.example',
      fields: [{ name: 'id', type: 'string' }, { name: 'amount', type: 'double' }],
    }
    const subject = uniqueTopic('payments-value')
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })
    assert.ok(Number.isInteger(id) && id > 0)
    const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })
    assert.equal(again.id, id, 'the same schema keeps its id')
    const values = await Promise.all([1, 2, 3].map(i => registry.encode(id, { id: `p${i}`, amount: i * 1.5 })))
    assert.ok(values.every(v => v[0] === 0 && v.readInt32BE(1) === id), 'magic byte and schema id')
    const decoded = await roundTrip('avro', values)
    assert.deepEqual(decoded.map(d => d.amount), [1.5, 3, 4.5])
    assert.equal(await registry.getLatestSchemaId(subject), id)

    const v2 = { ...v1, fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }] }
    const second = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })
    assert.notEqual(second.id, id)
    const bad = { ...v1, fields: [{ name: 'id', type: 'int' }] }
    await assert.rejects(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(bad) }, { subject }),
      err => err.status === 409 || /incompatible/i.test(String(err.message)),
    )
  })

test('JSON Schema and Protobuf: register, encode, round trip, decode', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  if (!broker.registryUrl) return t.skip('no schema registry (COMPAT_REGISTRY_URL)')
  registry = registry || new SchemaRegistry({ host: broker.registryUrl })
  const jsonSchema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
    required: ['sku'],
  }
  const j = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonSchema) }, { subject: uniqueTopic('stock-value') })
  const jsonValues = await Promise.all([1, 2].map(i => registry.encode(j.id, { sku: `s${i}`, qty: i })))
  assert.deepEqual((await roundTrip('json', jsonValues)).map(v => v.qty), [1, 2])

  const proto = `
    syntax = "proto3";
    package compat;
    message Shipment {
      string id = 1;
      int32 parcels = 2;
    }
  `
  const p = await registry.register({ type: SchemaType.PROTOBUF, schema: proto }, { subject: uniqueTopic('ship-value') })
  const protoValues = await Promise.all([1, 2, 3].map(i => registry.encode(p.id, { id: `sh${i}`, parcels: i })))
  assert.deepEqual((await roundTrip('proto', protoValues)).map(v => v.parcels), [1, 2, 3])
})
