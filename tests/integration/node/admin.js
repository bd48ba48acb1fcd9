'use strict'
// Runs the admin steps of test_kafkajs.py in order and reports each result.
// plan: { bootstrap, a, b, v, rf3 }  (topic names)
const { client, errorInfo, main } = require('./common')

async function attempt (fn) {
  try {
    return { ok: await fn(), error: null }
  } catch (e) {
    return { ok: null, error: errorInfo(e) }
  }
}

main(async (plan) => {
  const kafka = client(plan)
  const admin = kafka.admin()
  await admin.connect()
  const out = {}
  try {
    out.create = await admin.createTopics({
      waitForLeaders: true,
      timeout: 10000,
      topics: [
        { topic: plan.a, numPartitions: 3, replicationFactor: 1 },
        { topic: plan.b, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }
      ]
    })
    out.createAgain = await admin.createTopics({ topics: [{ topic: plan.a, numPartitions: 1 }] })
    // waitForLeaders off: the topic must not exist afterwards, so there is
    // no leader to wait for (KafkaJS would poll Metadata and fail with
    // UNKNOWN_TOPIC_OR_PARTITION).
    out.validateOnly = await attempt(() => admin.createTopics({
      validateOnly: true, waitForLeaders: false, topics: [{ topic: plan.v, numPartitions: 2, replicationFactor: 1 }]
    }))
    out.rf3 = await attempt(() => admin.createTopics({
      topics: [{ topic: plan.rf3, numPartitions: 1, replicationFactor: 3 }]
    }))
    out.list = (await admin.listTopics()).sort()
    out.metadata = await admin.fetchTopicMetadata({ topics: [plan.a, plan.b] })

    // Some records so that the offsets are not all zero: 5 to p0, 3 to p2.
    const producer = kafka.producer()
    await producer.connect()
    const msgs = (p, n) => Array.from({ length: n }, (_, i) => ({ partition: p, key: `k${p}-${i}`, value: `v${p}-${i}` }))
    await producer.send({ topic: plan.a, acks: -1, messages: msgs(0, 5).concat(msgs(2, 3)) })
    await producer.disconnect()
    out.offsets = (await admin.fetchTopicOffsets(plan.a)).sort((x, y) => x.partition - y.partition)

    out.delete = await attempt(() => admin.deleteTopics({ topics: [plan.a, plan.b], timeout: 10000 }))
    out.listAfterDelete = (await admin.listTopics()).sort()
    return out
  } finally {
    await admin.disconnect()
  }
})
