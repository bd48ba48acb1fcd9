'use strict'
// A KafkaJS transactional producer's first step, producer.transaction()
// (which sends InitProducerId with the transactional id). Until transactions
// exist (issue 4 part 2) runnel refuses it; this script reports how.
// plan: { bootstrap, transactionalId }
// result: { ok: false, error: errorInfo, ms } or { ok: true, ms }
const { client, errorInfo, main } = require('./common')

main(async (plan) => {
  const t0 = Date.now()
  const producer = client(plan).producer({ transactionalId: plan.transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const txn = await producer.transaction()
    await txn.abort()
    return { ok: true, ms: Date.now() - t0 }
  } catch (e) {
    return { ok: false, error: errorInfo(e), ms: Date.now() - t0 }
  } finally {
    await producer.disconnect()
  }
})
