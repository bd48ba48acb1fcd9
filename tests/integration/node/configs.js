'use strict'
// Runs the config steps of test_configs.py::test_kafkajs_alter_describe in
// order and reports each result.
// plan: { bootstrap, topic, nodeId, set: {key: value}, bad: {key: value} }
const { ConfigResourceTypes } = require('kafkajs')
const { client, errorInfo, main } = require('./common')

async function attempt (fn) {
  try {
    return { ok: await fn(), error: null }
  } catch (e) {
    return { ok: null, error: errorInfo(e) }
  }
}

const entries = (obj) => Object.entries(obj).map(([name, value]) => ({ name, value }))

main(async (plan) => {
  const admin = client(plan).admin()
  await admin.connect()
  const topic = (configEntries) => ({ type: ConfigResourceTypes.TOPIC, name: plan.topic, configEntries })
  const describeTopic = async () => {
    const res = await admin.describeConfigs({
      includeSynonyms: true,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: plan.topic }]
    })
    return res.resources[0].configEntries
  }
  const out = {}
  try {
    out.alter = await attempt(() => admin.alterConfigs({ resources: [topic(entries(plan.set))] }))
    out.afterSet = await describeTopic()
    // AlterConfigs replaces the whole set: send the valid keys along with the bad one.
    out.bad = await attempt(() => admin.alterConfigs({
      resources: [topic(entries({ ...plan.set, ...plan.bad }))]
    }))
    const broker = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: plan.nodeId }]
    })
    out.broker = broker.resources[0].configEntries
    out.clear = await attempt(() => admin.alterConfigs({ resources: [topic([])] }))
    out.afterClear = await describeTopic()
    return out
  } finally {
    await admin.disconnect()
  }
})
