'use strict'
// Produces the plan's batches with producer.send (acks -1, the plan's
// compression), one send per batch, in order.
// plan: { bootstrap, topic, compression: "none"|"gzip",
//         batches: [[{ partition, key, value, headers: {name: [b64...]}, timestamp }]] }
//   key/value are base64 or null.
// result: { metadata: [[RecordMetadata...] per batch] }
const { CompressionTypes } = require('kafkajs')
const { client, b64, main } = require('./common')

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }

main(async (plan) => {
  const producer = client(plan).producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const metadata = []
    for (const batch of plan.batches) {
      const messages = batch.map((m) => {
        const headers = {}
        for (const [k, vs] of Object.entries(m.headers || {})) {
          headers[k] = vs.length === 1 ? b64(vs[0]) : vs.map(b64)
        }
        return { partition: m.partition, key: b64(m.key), value: b64(m.value), headers, timestamp: String(m.timestamp) }
      })
      metadata.push(await producer.send({
        topic: plan.topic,
        acks: -1,
        timeout: plan.timeoutMs || 30000,
        compression: codecs[plan.compression],
        messages
      }))
    }
    return { metadata }
  } finally {
    await producer.disconnect()
  }
})
