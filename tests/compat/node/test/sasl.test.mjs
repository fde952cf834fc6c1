// kafkajs over SASL: SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
// against a user created at start-up (WEIR_BOOTSTRAP_USERS), OAUTHBEARER with an
// RS256 token checked against a JWKS file, SASL_PLAINTEXT; a wrong password and
// an unknown user are refused with kafkajs's authentication error while the
// broker keeps serving. The broker's certificate comes from fixtures/ (a test
// CA, valid 2000-3000). Run with: node --test test/sasl.test.mjs

import assert from 'node:assert/strict'
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import kafkajs from 'kafkajs'

import { startBroker } from '../lib/broker.mjs'

const { Kafka, logLevel } = kafkajs
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')
const CA = fs.readFileSync(path.join(FIXTURES, 'ca.pem'))
const TIMEOUT_MS = 120000

const b64url = buf => Buffer.from(buf).toString('base64url')

/** An OAuth issuer: an RSA key and the JWKS file that publishes it. */
function issuer (dir) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
  const jwksPath = path.join(dir, 'jwks.json')
  fs.writeFileSync(jwksPath, JSON.stringify({ keys: [jwk] }))
  const token = (sub, lifetimeS = 600) => {
    const head = b64url(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' }))
    const claims = b64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + lifetimeS }))
    const signer = createSign('RSA-SHA256')
    signer.update(`${head}.${claims}`)
    return `${head}.${claims}.${b64url(signer.sign(privateKey))}`
  }
  return { jwksPath, token }
}

let broker, dir, idp, saslSsl, saslPlain

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-node-sasl-'))
  idp = issuer(dir)
  broker = await startBroker({
    ports: 2,
    args: ([a, b]) => {
      saslSsl = `127.0.0.1:${a}`
      saslPlain = `127.0.0.1:${b}`
      return [
        '--set', `listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://${saslSsl},SASL_PLAINTEXT://${saslPlain}`,
        '--set', 'ssl.keystore.type=PEM',
        '--set', `ssl.keystore.location=${path.join(FIXTURES, 'broker.pem')}`,
        '--set', 'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER',
        '--set', `sasl.oauthbearer.jwks.endpoint.url=file://${idp.jwksPath}`,
      ]
    },
    env: { WEIR_BOOTSTRAP_USERS: 'alice:alice-secret' },
  })
})

after(async () => {
  if (broker) assert.equal(await broker.stop(), 0)
  fs.rmSync(dir, { recursive: true, force: true })
})

function client (sasl, { tls = true } = {}) {
  return new Kafka({
    clientId: 'compat-kafkajs-sasl',
    brokers: [tls ? saslSsl : saslPlain],
    ssl: tls ? { ca: [CA] } : false,
    sasl,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 0 },
  })
}

async function roundTrip (kafka) {
  const topic = `sasl-js-${randomBytes(4).toString('hex')}`
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value: 'one' }, { value: 'two' }] })
  await producer.disconnect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  return offsets[0].high
}

for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
  test(`kafkajs produces over SASL_SSL with ${mechanism}`, { timeout: TIMEOUT_MS }, async () => {
    const kafka = client({ mechanism, username: 'alice', password: 'alice-secret' })
    assert.equal(await roundTrip(kafka), '2')
  })
}

test('kafkajs over SASL_PLAINTEXT with SCRAM-SHA-512', { timeout: TIMEOUT_MS }, async () => {
  const kafka = client({ mechanism: 'scram-sha-512', username: 'alice', password: 'alice-secret' }, { tls: false })
  assert.equal(await roundTrip(kafka), '2')
})

test('kafkajs with an OAUTHBEARER token signed by the issuer', { timeout: TIMEOUT_MS }, async () => {
  const kafka = client({ mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: idp.token('svc-js') }) })
  assert.equal(await roundTrip(kafka), '2')
  const expired = client({ mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: idp.token('svc-js', -120) }) })
  const admin = expired.admin()
  await assert.rejects(admin.connect(), err => err.name === 'KafkaJSSASLAuthenticationError' && /expired/.test(err.message))
})

test('a wrong password and an unknown user are refused; others go on', { timeout: TIMEOUT_MS }, async () => {
  for (const [username, password] of [['alice', 'wrong'], ['mallory', 'alice-secret']]) {
    for (const mechanism of ['plain', 'scram-sha-256']) {
      const admin = client({ mechanism, username, password }).admin()
      await assert.rejects(admin.connect(), err => err.name === 'KafkaJSSASLAuthenticationError',
        `${mechanism} ${username}`)
    }
  }
  const admin = client({ mechanism: 'scram-sha-256', username: 'alice', password: 'alice-secret' }).admin()
  await admin.connect()
  assert.ok(Array.isArray(await admin.listTopics()))
  await admin.disconnect()
})
