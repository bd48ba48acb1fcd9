'use strict'
// A KafkaJS transactional producer (transactionalId, idempotent, one request
// in flight, as KafkaJS requires), driven by tests/integration/test_transactions.py.
// Runs plan.steps in order, each one transaction:
//   producer.transaction(); txn.send(topic, step.messages);
//   txn.sendOffsets(group, inTopic, step.offsets) when step.offsets is given;
//   txn.commit() or txn.abort() as step.end says.
// plan: { bootstrap, transactionalId, topic, inTopic, group,
//         steps: [{ messages: [{ partition, key, value }],
//                   offsets: [{ partition, offset }] | null, end: 'commit' | 'abort' }] }
// result: { steps: [{ end, sent: { partition: [baseOffset...] } }] }
const { client, main } = require('./common')

async function step (producer, plan, s) {
  const txn = await producer.transaction()
  try {
    const md = await txn.send({ topic: plan.topic, acks: -1, messages: s.messages })
    if (s.offsets) {
      await txn.sendOffsets({
        consumerGroupId: plan.group,
        topics: [{
          topic: plan.inTopic,
          partitions: s.offsets.map((o) => ({ partition: o.partition, offset: String(o.offset) }))
        }]
      })
    }
    if (s.end === 'commit') await txn.commit()
    else await txn.abort()
    const sent = {}
    for (const m of md) (sent[m.partition] = sent[m.partition] || []).push(Number(m.baseOffset))
    return { end: s.end, sent }
  } catch (e) {
    if (txn.isActive()) await txn.abort()
    throw e
  }
}

main(async (plan) => {
  const producer = client({ ...plan, timeoutMs: 10000 }).producer({
    transactionalId: plan.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false
  })
  await producer.connect()
  try {
    const steps = []
    for (const s of plan.steps) steps.push(await step(producer, plan, s))
    return { steps }
  } finally {
    await producer.disconnect()
  }
})
