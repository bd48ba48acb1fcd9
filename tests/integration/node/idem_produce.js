'use strict'
// An idempotent KafkaJS producer (idempotent: true, acks -1, one request in
// flight, as KafkaJS requires for idempotence). Sends plan.count messages,
// plan.perSend per producer.send, message i to partition i % plan.partitions
// with value String(i), in order. Driven by tests/integration/test_idempotence.py
// (directly or through dropproxy.py, whose dropped answers make KafkaJS retry).
// plan: { bootstrap, topic, partitions, count, perSend }
// result: { sends, offsets: { partition: [baseOffset of each send's batch...] } }
const { client, main } = require('./common')

main(async (plan) => {
  const kafka = client({ ...plan, timeoutMs: 10000 })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const offsets = {}
    let sends = 0
    for (let start = 0; start < plan.count; start += plan.perSend) {
      const messages = []
      for (let i = start; i < Math.min(plan.count, start + plan.perSend); i++) {
        messages.push({ partition: i % plan.partitions, value: String(i) })
      }
      const md = await producer.send({ topic: plan.topic, acks: -1, timeout: 10000, messages })
      for (const m of md) {
        (offsets[m.partition] = offsets[m.partition] || []).push(Number(m.baseOffset))
      }
      sends++
    }
    return { sends, offsets }
  } finally {
    await producer.disconnect()
  }
})
