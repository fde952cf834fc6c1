// kafkajs against the broker: admin, produce, consume by assignment (low-level
// Fetch, see ../lib/fetch.mjs), offsets by timestamp, configs, delete records,
// delete topic, and consumer groups (consumer.run, commits, admin group APIs,
// resuming after a broker restart, a member kept through one), and an idempotent
// producer through a broker restart. Run with: node --test test/kafkajs.test.mjs

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'

import { decompress as zstdDecompress } from 'fzstd'
import kafkajs from 'kafkajs'

import { startBroker } from '../lib/broker.mjs'
import { connectCluster, fetchAssigned } from '../lib/fetch.mjs'

const {
  Kafka, CompressionCodecs, CompressionTypes, ConfigResourceTypes, Partitioners, logLevel,
  AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes,
} = kafkajs

// kafkajs ships no zstd codec: its users add one (@kafkajs/zstd) to read zstd
// batches. This suite only reads them, with fzstd (pure JS, no native build).
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress () { throw new Error('this suite does not produce zstd') },
  async decompress (buffer) { return Buffer.from(zstdDecompress(buffer)) },
})

const PARTITIONS = 3
const DEADLINE_MS = 60000
const TEST_TIMEOUT_MS = 180000
// Explicit CreateTime timestamps, 10 minutes in the past, so timestamp
// look-ups are deterministic.
const BASE_TS = Math.floor((Date.now() - 10 * 60 * 1000) / 1000) * 1000
const DYNAMIC_TOPIC_CONFIG = 1

let broker, kafka, admin, cluster

before(async () => {
  broker = await startBroker()
  kafka = new Kafka({
    clientId: 'compat-kafkajs',
    brokers: [broker.bootstrap],
    logLevel: logLevel.WARN,
    connectionTimeout: 5000,
    requestTimeout: 30000,
    retry: { retries: 5 },
  })
  admin = kafka.admin()
  await admin.connect()
  cluster = await connectCluster(broker.bootstrap)
})

after(async () => {
  await admin?.disconnect().catch(() => {})
  await cluster?.disconnect().catch(() => {})
  if (broker) {
    const code = await broker.stop()
    // The command-line contract: exit 0 after a clean shutdown on SIGTERM.
    assert.ok(code === 0 || code === null,
      `weir exited with ${code} after SIGTERM; log ${broker.logPath}:\n${broker.tail()}`)
  }
})

// ------------------------------------------------------------ helpers

function uniqueTopic (prefix) {
  return `compat-kjs-${prefix}-${randomBytes(5).toString('hex')}`
}

async function waitUntil (predicate, what, timeoutMs = DEADLINE_MS) {
  const deadline = Date.now() + timeoutMs
  let lastErr
  for (;;) {
    try {
      if (await predicate()) return
      lastErr = undefined
    } catch (err) {
      lastErr = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}` + (lastErr ? `: ${lastErr}` : ''))
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function createTopic (prefix, configEntries = []) {
  const topic = uniqueTopic(prefix)
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries }],
    waitForLeaders: true,
    timeout: 30000,
  })
  assert.equal(created, true)
  await waitUntil(async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    return topics[0].partitions.length === PARTITIONS && topics[0].partitions.every(p => p.leader >= 0)
  }, `topic ${topic} with ${PARTITIONS} led partitions`)
  return topic
}

async function withProducer (fn) {
  // kafkajs' default producer is not idempotent (no InitProducerId needed).
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    return await fn(producer)
  } finally {
    await producer.disconnect()
  }
}

/** Send `messages` (each with a `partition`) in one request; return
 *  Map "partition:offset" -> expected record. */
async function produceExplicit (producer, topic, messages, compression = CompressionTypes.None) {
  const results = await producer.send({ topic, acks: -1, timeout: 30000, compression, messages })
  const base = new Map(results.map(r => {
    assert.equal(r.errorCode, 0)
    return [r.partition, BigInt(r.baseOffset)]
  }))
  const seen = new Map()
  const expected = new Map()
  for (const m of messages) {
    const i = seen.get(m.partition) ?? 0n
    seen.set(m.partition, i + 1n)
    expected.set(`${m.partition}:${base.get(m.partition) + i}`, normalize(m))
  }
  return expected
}

function toBuf (v) {
  return v === null || v === undefined ? null : Buffer.from(v)
}

/** Comparable form of a sent or fetched record. */
function normalize ({ key, value, headers, timestamp }) {
  const pairs = Object.entries(headers || {}).flatMap(([k, v]) =>
    (Array.isArray(v) ? v : [v]).map(x => [k, toBuf(x)?.toString('hex') ?? null]))
  return {
    key: toBuf(key)?.toString('hex') ?? null,
    value: toBuf(value)?.toString('hex') ?? null,
    headers: pairs,
    timestamp: String(timestamp),
  }
}

function normalizeAll (fetched) {
  return new Map([...fetched].map(([k, r]) => [k, normalize(r)]))
}

function sortedEntries (map) {
  return [...map.entries()].sort(([a], [b]) => a.localeCompare(b))
}

async function offsetsByPartition (topic) {
  const offs = await admin.fetchTopicOffsets(topic)
  return Object.fromEntries(offs.map(o => [o.partition, { low: o.low, high: o.high }]))
}

// ------------------------------------------------------------ tests

test('admin.createTopics creates a topic with 3 partitions', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('create')
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.deepEqual(topics[0].partitions.map(p => p.partitionId).sort(), [0, 1, 2])
  assert.ok((await admin.listTopics()).includes(topic))
  // A second create is TOPIC_ALREADY_EXISTS, which kafkajs reports as false.
  const again = await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] })
  assert.equal(again, false)
})

for (const [name, compression] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]]) {
  test(`produce keyed records with headers (acks=-1, ${name}) and fetch them back by assignment`,
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = await createTopic(`roundtrip-${name}`)
      const messages = Array.from({ length: 60 }, (_, i) => ({
        partition: i % PARTITIONS,
        key: `key-${i % 5}`,
        value: i === 7 ? null : `value-${i}-`.repeat(5),
        headers: { 'h-index': String(i), dup: ['a', 'b'] },
        timestamp: String(BASE_TS + i * 10),
      }))
      const expected = await withProducer(p => produceExplicit(p, topic, messages, compression))
      const got = await fetchAssigned(cluster, topic, { 0: 0, 1: 0, 2: 0 }, messages.length)
      assert.deepEqual(sortedEntries(normalizeAll(got)), sortedEntries(expected))

      const offsets = await offsetsByPartition(topic)
      for (let p = 0; p < PARTITIONS; p++) {
        assert.deepEqual(offsets[p], { low: '0', high: String(messages.length / PARTITIONS) })
      }
    })
}

test('a compression.type=zstd topic recompresses uncompressed batches and kafkajs reads them',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    const topic = await createTopic('zstd-topic', [{ name: 'compression.type', value: 'zstd' }])
    const messages = Array.from({ length: 30 }, (_, i) => ({
      partition: i % PARTITIONS,
      key: `key-${i}`,
      value: `zstd-value-${i}-`.repeat(20),
      headers: { 'h-index': String(i) },
      timestamp: String(BASE_TS + i * 10),
    }))
    const expected = await withProducer(p => produceExplicit(p, topic, messages, CompressionTypes.None))
    const got = await fetchAssigned(cluster, topic, { 0: 0, 1: 0, 2: 0 }, messages.length)
    assert.deepEqual(sortedEntries(normalizeAll(got)), sortedEntries(expected))
  })

test('keyed records without a partition: one partition per key', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('keyed')
  const messages = Array.from({ length: 48 }, (_, i) => ({ key: `k-${i % 6}`, value: `v-${i}` }))
  await withProducer(p => p.send({ topic, acks: -1, messages }))
  const offsets = await offsetsByPartition(topic)
  const total = Object.values(offsets).reduce((n, o) => n + Number(o.high), 0)
  assert.equal(total, messages.length)
  const got = await fetchAssigned(cluster, topic,
    Object.fromEntries(Object.keys(offsets).map(p => [p, 0])), messages.length)
  const partitionsOfKey = new Map()
  for (const [k, r] of got) {
    const key = r.key.toString()
    partitionsOfKey.set(key, (partitionsOfKey.get(key) || new Set()).add(k.split(':')[0]))
  }
  assert.equal(partitionsOfKey.size, 6)
  for (const [key, parts] of partitionsOfKey) assert.equal(parts.size, 1, `key ${key} in ${[...parts]}`)
})

test('fetchTopicOffsets, fetchTopicOffsetsByTimestamp, and fetching from there', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('times')
  const n = 30
  const messages = Array.from({ length: n }, (_, i) => ({
    partition: i % PARTITIONS, key: `k${i}`, value: `v${i}`, timestamp: String(BASE_TS + i * 1000),
  }))
  const expected = await withProducer(p => produceExplicit(p, topic, messages))

  const offsets = await offsetsByPartition(topic)
  for (let p = 0; p < PARTITIONS; p++) assert.deepEqual(offsets[p], { low: '0', high: String(n / PARTITIONS) })

  const target = BASE_TS + 14500 // between record 14 and 15
  const want = new Map([...expected].filter(([, r]) => Number(r.timestamp) >= target))
  const firstOffset = {}
  for (const k of want.keys()) {
    const [p, o] = k.split(':').map(Number)
    firstOffset[p] = Math.min(firstOffset[p] ?? Infinity, o)
  }
  const byTs = await admin.fetchTopicOffsetsByTimestamp(topic, target)
  assert.deepEqual(
    Object.fromEntries(byTs.map(o => [o.partition, Number(o.offset)])), firstOffset)
  // Past the newest record kafkajs reports the latest offset.
  const late = await admin.fetchTopicOffsetsByTimestamp(topic, BASE_TS + 3600000)
  for (const o of late) assert.equal(o.offset, String(n / PARTITIONS))

  const got = await fetchAssigned(cluster, topic, firstOffset, want.size)
  assert.deepEqual(sortedEntries(normalizeAll(got)), sortedEntries(want))
})

test('admin calls answered as Kafka 4.1 answers them on one node without an authorizer',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    const cluster = await admin.describeCluster()
    assert.equal(cluster.brokers.length, 1)
    assert.equal(cluster.controller, cluster.brokers[0].nodeId)
    // Every Kafka broker key is described, with Kafka's default where Weir does
    // not act on it.
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.BROKER, name: String(cluster.brokers[0].nodeId) }],
      includeSynonyms: false,
    })
    const byName = Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e]))
    assert.equal(byName['num.io.threads'].configValue, '8')
    assert.equal(byName['offsets.commit.timeout.ms'].configValue, '5000')
    assert.equal(byName['ssl.keystore.password'].isSensitive, true)
    // No authorizer: ACL calls are SECURITY_DISABLED, as on Kafka.
    await assert.rejects(admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    }), err => err.type === 'SECURITY_DISABLED')
  })

test('describeConfigs and alterConfigs (retention.ms)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('configs')
  const describe = async () => {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      includeSynonyms: false,
    })
    assert.equal(resources[0].errorCode, 0)
    return Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e]))
  }
  const before = await describe()
  assert.ok(before['retention.ms'], 'retention.ms is described')
  assert.notEqual(before['retention.ms'].configSource, DYNAMIC_TOPIC_CONFIG)

  await admin.alterConfigs({
    validateOnly: false,
    resources: [{
      type: ConfigResourceTypes.TOPIC,
      name: topic,
      configEntries: [{ name: 'retention.ms', value: '3600000' }],
    }],
  })
  const afterAlter = await describe()
  assert.equal(afterAlter['retention.ms'].configValue, '3600000')
  assert.equal(afterAlter['retention.ms'].configSource, DYNAMIC_TOPIC_CONFIG)
})

test('deleteTopicRecords moves the earliest offset', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('delrec')
  const messages = Array.from({ length: 10 }, (_, i) => ({ partition: 0, key: 'k', value: `v${i}` }))
  await withProducer(p => produceExplicit(p, topic, messages))
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
  const offsets = await offsetsByPartition(topic)
  assert.deepEqual(offsets[0], { low: '4', high: '10' })
  const got = await fetchAssigned(cluster, topic, { 0: 4 }, 6)
  assert.deepEqual([...got.keys()].sort(), ['0:4', '0:5', '0:6', '0:7', '0:8', '0:9'])
  assert.equal(got.get('0:4').value.toString(), 'v4')
})

test('deleteTopics removes the topic from metadata', { timeout: TEST_TIMEOUT_MS }, async () => {
  const topic = await createTopic('deltopic')
  await admin.deleteTopics({ topics: [topic], timeout: 30000 })
  await waitUntil(async () => !(await admin.listTopics()).includes(topic), `${topic} gone from metadata`)
})

// ------------------------------------------------------------ consumer groups

function groupConsumer (groupId, extra = {}) {
  return kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    heartbeatInterval: 500,
    rebalanceTimeout: 30000,
    maxWaitTimeInMs: 200,
    retry: { retries: 10 },
    ...extra,
  })
}

/** Runs `consumer` on `topic`, recording every record as "partition:offset" in
 *  `seen` (a record delivered twice fails the test) and checking each partition
 *  continues from `start[p]` (or 0) without gaps. */
async function runCollecting (consumer, topic, seen, start = {}, runOpts = {}) {
  const next = { ...start }
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    ...runOpts,
    eachMessage: async ({ partition, message }) => {
      const key = `${partition}:${message.offset}`
      assert.ok(!seen.has(key), `record ${key} delivered twice`)
      assert.equal(Number(message.offset), next[partition] ?? 0, `partition ${partition} continues without gaps`)
      next[partition] = Number(message.offset) + 1
      seen.set(key, message.value.toString())
    },
  })
}

function plainMessages (n, start = 0) {
  return Array.from({ length: n }, (_, k) => {
    const i = start + k
    return { partition: i % PARTITIONS, key: `k${i}`, value: `v${i}`, timestamp: String(BASE_TS + i) }
  })
}

async function committedOffsets (groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(t.partitions.map(p => [p.partition, Number(p.offset)]))
}

test('consumer.run in a group of two: every record once, offsets committed, admin group APIs',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    const topic = await createTopic('group')
    const groupId = uniqueTopic('group')
    const assigned = [[], []]
    const consumers = [groupConsumer(groupId), groupConsumer(groupId)]
    consumers.forEach((c, i) => c.on(c.events.GROUP_JOIN, e => {
      assigned[i] = e.payload.memberAssignment[topic] || []
    }))
    const seen = new Map()
    try {
      for (const c of consumers) await runCollecting(c, topic, seen)
      await waitUntil(() => {
        const [a, b] = assigned.map(x => new Set(x))
        return a.size > 0 && b.size > 0 && [...a].every(p => !b.has(p)) && a.size + b.size === PARTITIONS
      }, 'two members sharing the 3 partitions')
      await withProducer(p => produceExplicit(p, topic, plainMessages(60)))
      await waitUntil(() => seen.size >= 60, `60 records through the group (have ${seen.size})`)
      const expected = []
      for (let p = 0; p < PARTITIONS; p++) for (let o = 0; o < 20; o++) expected.push(`${p}:${o}`)
      assert.deepEqual([...seen.keys()].sort(), expected.sort())

      const { groups } = await admin.describeGroups([groupId])
      assert.equal(groups[0].state, 'Stable')
      assert.equal(groups[0].members.length, 2)
      // kafkajs commits after each batch: wait for the last one.
      await waitUntil(async () => Object.values(await committedOffsets(groupId, topic)).every(o => o === 20),
        'offsets 20 committed on every partition')
    } finally {
      for (const c of consumers) await c.disconnect() // LeaveGroup
    }
    const { groups } = await admin.describeGroups([groupId])
    assert.equal(groups[0].state, 'Empty')
    assert.equal(groups[0].members.length, 0)
    const listed = await admin.listGroups()
    assert.ok(listed.groups.some(g => g.groupId === groupId && g.protocolType === 'consumer'))
    assert.deepEqual(await committedOffsets(groupId, topic), { 0: 20, 1: 20, 2: 20 })
    await admin.deleteGroups([groupId])
    assert.ok(!(await admin.listGroups()).groups.some(g => g.groupId === groupId))
  })

test('transactions: a committed one is read once with sendOffsets, an aborted one never (read_committed)',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    const src = await createTopic('txn-in')
    const dst = await createTopic('txn-out')
    await withProducer(p => produceExplicit(p, src, plainMessages(30)))
    const groupId = uniqueTopic('txn-group')
    const producer = kafka.producer({
      transactionalId: uniqueTopic('txn-id'),
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    })
    await producer.connect()
    try {
      const aborted = await producer.transaction()
      await aborted.send({ topic: dst, messages: [{ partition: 0, value: 'aborted' }] })
      await aborted.abort()
      const txn = await producer.transaction()
      await txn.send({
        topic: dst,
        messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % PARTITIONS, value: `out-v${i}` })),
      })
      await txn.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: src, partitions: [0, 1, 2].map(p => ({ partition: p, offset: '10' })) }],
      })
      await txn.commit()
    } finally {
      await producer.disconnect()
    }
    assert.deepEqual(await committedOffsets(groupId, src), { 0: 10, 1: 10, 2: 10 })
    const consumer = groupConsumer(uniqueTopic('txn-reader'), { readUncommitted: false })
    const values = []
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [dst], fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()) } })
      await waitUntil(() => values.length >= 30, `30 committed records (have ${values.length})`)
      await new Promise(resolve => setTimeout(resolve, 500))
    } finally {
      await consumer.disconnect()
    }
    assert.deepEqual(values.sort(), Array.from({ length: 30 }, (_, i) => `out-v${i}`).sort())
  })

// These restart the broker under the shared admin and cluster clients.
test('a group member stays in its generation through a broker restart: no rebalance',
  { timeout: TEST_TIMEOUT_MS }, async (t) => {
    if (!broker.restart) return t.skip('needs a broker this suite started (not COMPAT_BOOTSTRAP)')
    const topic = await createTopic('grp-restart')
    const consumer = groupConsumer(uniqueTopic('grp-restart'))
    const events = []
    for (const name of ['GROUP_JOIN', 'REBALANCING', 'CRASH']) {
      consumer.on(consumer.events[name], e => events.push([name, e.payload.memberId]))
    }
    const seen = new Map()
    try {
      await runCollecting(consumer, topic, seen, {}, { autoCommit: false })
      await withProducer(p => produceExplicit(p, topic, plainMessages(30)))
      await waitUntil(() => seen.size >= 30, `30 records (have ${seen.size})`)
      const before = events.length
      await broker.restart()
      await withProducer(p => produceExplicit(p, topic, plainMessages(30, 30)))
      await waitUntil(() => seen.size >= 60, `60 records, the last 30 after the restart (have ${seen.size})`)
      await new Promise(resolve => setTimeout(resolve, 3000)) // six heartbeat intervals
      // The broker loaded the group with its member: the heartbeats go on in the
      // same generation, nobody joins again (a forgotten member would be told
      // UNKNOWN_MEMBER_ID and join under a new member id).
      assert.deepEqual(events.slice(before), [], 'no rejoin, rebalance or crash after the restart')
      assert.deepEqual(events.map(e => e[0]), ['GROUP_JOIN'])
    } finally {
      await consumer.disconnect()
    }
  })

test('committed offsets survive a broker restart and the group resumes after them',
  { timeout: TEST_TIMEOUT_MS }, async (t) => {
    if (!broker.restart) return t.skip('needs a broker this suite started (not COMPAT_BOOTSTRAP)')
    const topic = await createTopic('resume')
    const groupId = uniqueTopic('resume')
    await withProducer(p => produceExplicit(p, topic, plainMessages(30))) // 10 per partition
    const commit = { 0: 4, 1: 7, 2: 10 }
    let consumer = groupConsumer(groupId)
    let seen = new Map()
    try {
      await runCollecting(consumer, topic, seen, {}, { autoCommit: false })
      await waitUntil(() => seen.size >= 30, `30 records (have ${seen.size})`)
      await consumer.commitOffsets(Object.entries(commit).map(([partition, o]) =>
        ({ topic, partition: Number(partition), offset: String(o) })))
    } finally {
      await consumer.disconnect()
    }
    assert.deepEqual(await committedOffsets(groupId, topic), commit)

    await broker.restart()
    await withProducer(p => produceExplicit(p, topic, plainMessages(30, 30))) // offsets 10..19
    await waitUntil(async () => {
      const c = await committedOffsets(groupId, topic)
      return JSON.stringify(c) === JSON.stringify(commit)
    }, 'committed offsets after the restart')
    consumer = groupConsumer(groupId)
    seen = new Map()
    const want = Object.values(commit).reduce((n, o) => n + 20 - o, 0)
    try {
      await runCollecting(consumer, topic, seen, commit)
      await waitUntil(() => seen.size >= want, `${want} records after the restart (have ${seen.size})`)
      const expected = []
      for (let p = 0; p < PARTITIONS; p++) for (let o = commit[p]; o < 20; o++) expected.push(`${p}:${o}`)
      assert.deepEqual([...seen.keys()].sort(), expected.sort())
      await waitUntil(async () => Object.values(await committedOffsets(groupId, topic)).every(o => o === 20),
        'offsets 20 committed on every partition')
    } finally {
      await consumer.disconnect()
    }
  })

test('an idempotent producer keeps producing through a broker restart: each record once, in order',
  { timeout: TEST_TIMEOUT_MS }, async (t) => {
    if (!broker.restart) return t.skip('needs a broker this suite started (not COMPAT_BOOTSTRAP)')
    const topic = await createTopic('idem')
    // kafkajs requires one request in flight for idempotence.
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 2000 },
      createPartitioner: Partitioners.DefaultPartitioner,
    })
    await producer.connect()
    const total = 3000
    const batch = 50
    let sent = 0
    let restarted = false
    try {
      const producing = (async () => {
        while (sent < total) {
          const messages = Array.from({ length: batch }, (_, k) => {
            const i = sent + k
            return { partition: i % PARTITIONS, value: String(i) }
          })
          await producer.send({ topic, acks: -1, timeout: 30000, messages })
          sent += batch
        }
      })()
      await waitUntil(() => sent >= total / 4, 'a quarter of the records acknowledged before the restart')
      await broker.restart()
      restarted = true
      await producing
    } finally {
      await producer.disconnect()
    }
    assert.ok(restarted)
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.equal(topics[0].partitions.length, PARTITIONS)
    const offs = await offsetsByPartition(topic)
    for (let p = 0; p < PARTITIONS; p++) {
      assert.equal(Number(offs[p].high), total / PARTITIONS, `partition ${p} holds each record once`)
    }
    const fetched = await fetchAssigned(cluster, topic, { 0: 0, 1: 0, 2: 0 }, total)
    for (let p = 0; p < PARTITIONS; p++) {
      const values = [...fetched].filter(([k]) => k.startsWith(`${p}:`))
        .sort(([a], [b]) => Number(a.split(':')[1]) - Number(b.split(':')[1]))
        .map(([, r]) => Number(r.value.toString()))
      const want = Array.from({ length: total / PARTITIONS }, (_, k) => p + k * PARTITIONS)
      assert.deepEqual(values, want, `partition ${p}: in order`)
    }
  })
