'use strict'
// Reads a topic from the beginning with a KafkaJS consumer and prints every
// record; driven by tests/integration/test_compression.py. KafkaJS's consumer
// only works in a group: it subscribes (fromBeginning) with plan.groupId, a
// group of its own, and never commits.
// plan: { bootstrap, topic, groupId, total, timeoutMs, outPath }
//   reads until `total` records arrived (timeoutMs at most; then it fails
//   with the count so far).
// result: { count } on stdout; the records go to the file outPath (stdout is
//   a pipe, and common.js's process.exit() may cut a long write to it):
//   { records: [{ p, offset, key, value, headers: [[name, [value...]]],
//                 timestamp, timestampType }] }
//   key/value/header values are base64 or null; offsets and timestamps are
//   decimal strings; timestampType is librdkafka's numbering (1 CreateTime,
//   2 LogAppendTime); headers in KafkaJS's grouping (one entry per name, in
//   order of first appearance, repeated names collected in order).
const fs = require('fs')
const { client, main } = require('./common')

const enc = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'))

function record (partition, message) {
  const headers = Object.entries(message.headers || {}).map(([name, v]) =>
    [name, (Array.isArray(v) ? v : [v]).map(enc)])
  return {
    p: partition,
    offset: message.offset,
    key: enc(message.key),
    value: enc(message.value),
    headers,
    timestamp: message.timestamp,
    // batchContext.timestampType: KafkaJS's 0 CreateTime / 1 LogAppendTime
    timestampType: message.batchContext.timestampType + 1
  }
}

main(async (plan) => {
  const consumer = client(plan).consumer({
    groupId: plan.groupId,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false
  })
  const records = []
  let done
  const finished = new Promise((resolve) => { done = resolve })
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(
      `timed out after ${plan.timeoutMs} ms with ${records.length} of ${plan.total} records`)), plan.timeoutMs)
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [plan.topic], fromBeginning: true })
    if (plan.total === 0) done()
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        records.push(record(partition, message))
        if (records.length >= plan.total) done()
      }
    })
    await Promise.race([finished, timeout])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
  fs.writeFileSync(plan.outPath, JSON.stringify({ records }))
  return { count: records.length }
})
