// Consume by assignment with kafkajs' own protocol stack.
//
// kafkajs' public consumer (consumer.run) always joins a consumer group, and
// Weir has no group coordinator yet. So this helper uses kafkajs' internal
// Cluster/Broker classes (the same code its consumer uses underneath) to send
// plain Fetch requests to each partition leader: the bytes on the wire are
// kafkajs' own Fetch encoding and decoding, without any group APIs.
// Internal paths are pinned by the exact kafkajs version in package.json.

import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const Cluster = require('kafkajs/src/cluster')
const { createLogger, LEVELS } = require('kafkajs/src/loggers')
const LoggerConsole = require('kafkajs/src/loggers/console')
const defaultSocketFactory = require('kafkajs/src/network/socketFactory')

export async function connectCluster (bootstrap) {
  const cluster = new Cluster({
    logger: createLogger({ level: LEVELS.WARN, logCreator: LoggerConsole }),
    socketFactory: defaultSocketFactory(),
    brokers: [bootstrap],
    clientId: 'compat-kafkajs-lowlevel',
    connectionTimeout: 5000,
    requestTimeout: 30000,
    enforceRequestTimeout: true,
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
  })
  await cluster.connect()
  return cluster
}

/**
 * Fetch from `start` ({partition: offset}) until `count` records arrived or
 * `deadlineMs` passed. Returns Map "partition:offset" -> record
 * ({ key, value, headers, timestamp }) with Buffers for key/value.
 */
export async function fetchAssigned (cluster, topic, start, count, deadlineMs = 60000) {
  await cluster.addTargetTopic(topic)
  await cluster.refreshMetadata()
  const next = new Map(Object.entries(start).map(([p, o]) => [Number(p), BigInt(o)]))
  const got = new Map()
  const deadline = Date.now() + deadlineMs
  while (got.size < count) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${deadlineMs}ms: ${got.size}/${count} records fetched`)
    }
    const leaders = cluster.findLeaderForPartitions(topic, [...next.keys()])
    for (const [nodeId, partitions] of Object.entries(leaders)) {
      const broker = await cluster.findBroker({ nodeId })
      const response = await broker.fetch({
        replicaId: -1,
        isolationLevel: 0, // READ_UNCOMMITTED
        maxWaitTime: 200,
        minBytes: 1,
        maxBytes: 10 * 1024 * 1024,
        topics: [{
          topic,
          partitions: partitions.map(p => ({
            partition: p,
            fetchOffset: next.get(p).toString(),
            maxBytes: 1024 * 1024,
          })),
        }],
      })
      for (const t of response.responses) {
        for (const part of t.partitions) {
          if (part.errorCode !== 0) {
            throw new Error(`fetch ${topic}/${part.partition}: error code ${part.errorCode}`)
          }
          for (const m of part.messages) {
            const offset = BigInt(m.offset)
            // A fetch may start inside a batch: skip what precedes our offset.
            if (offset < next.get(part.partition)) continue
            got.set(`${part.partition}:${offset}`, {
              key: m.key, value: m.value, headers: m.headers, timestamp: String(m.timestamp),
            })
            next.set(part.partition, offset + 1n)
          }
        }
      }
    }
  }
  return got
}
