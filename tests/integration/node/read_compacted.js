'use strict'
// Reads partition 0 of a (compacted) topic from the beginning to its high
// watermark with a KafkaJS consumer and prints the latest record per key;
// driven by tests/integration/test_compaction.py. Offsets have gaps after
// compaction, so the end is the high watermark (fetched with the admin
// client before reading; nothing is produced meanwhile), not a count: the
// read is over once a record at or past high - 1 arrived. The record at
// high - 1 is in the active segment, which the cleaner never touches.
// KafkaJS's consumer only works in a group: it subscribes (fromBeginning)
// with plan.groupId, a group of its own, and never commits.
// plan: { bootstrap, topic, groupId, timeoutMs }
// result: the same summary as c/compact_load.c read:
//   { records, tombstone_records, dup_records, foreign_records, increasing,
//     first_offset, last_offset, high, keys: { key: [value|null, offset] } }
//   (keys and values as UTF-8 strings, offsets as numbers).
const { client, main } = require('./common')

function summary () {
  return {
    records: 0,
    tombstone_records: 0,
    dup_records: 0,
    foreign_records: 0,
    increasing: true,
    first_offset: -1,
    last_offset: -1,
    high: -1,
    keys: {}
  }
}

function note (s, message) {
  const offset = Number(message.offset)
  if (s.records > 0 && offset <= s.last_offset) s.increasing = false
  if (s.records === 0) s.first_offset = offset
  s.last_offset = offset
  s.records++
  if (message.value === null) s.tombstone_records++
  if (message.key === null) {
    s.foreign_records++
    return
  }
  const key = message.key.toString('utf8')
  if (key in s.keys) s.dup_records++
  s.keys[key] = [message.value === null ? null : message.value.toString('utf8'), offset]
}

async function highWatermark (kafka, topic) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    const p0 = offsets.find((o) => o.partition === 0)
    return Number(p0.high)
  } finally {
    await admin.disconnect()
  }
}

main(async (plan) => {
  const kafka = client(plan)
  const s = summary()
  s.high = await highWatermark(kafka, plan.topic)
  if (s.high === 0) return s
  const consumer = kafka.consumer({
    groupId: plan.groupId,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 16 * 1024 * 1024,
    allowAutoTopicCreation: false
  })
  let done
  const finished = new Promise((resolve) => { done = resolve })
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(
      `timed out after ${plan.timeoutMs} ms: ${s.records} records, last offset ${s.last_offset}, ` +
      `high watermark ${s.high}`)), plan.timeoutMs)
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [plan.topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.partition !== 0) throw new Error(`record from partition ${batch.partition}`)
        for (const message of batch.messages) note(s, message)
        if (s.last_offset >= s.high - 1) done()
      }
    })
    await Promise.race([finished, timeout])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
  return s
})
