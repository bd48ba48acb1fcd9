'use strict'
// A KafkaJS consumer-group worker, driven by tests/integration/test_groups_kafkajs.py
// (through groupwork_proc.py). Same command line and output as c/rdk_group.c:
//
//   node group_worker.js BOOTSTRAP TOPIC GROUP NAME [--session-ms N] [--heartbeat-ms N]
//                        [--strategy roundrobin]
//
// Subscribes TOPIC (fromBeginning) with group GROUP, autoCommit off, and
// processes at least once: each record is printed, then its offset + 1 is
// committed with consumer.commitOffsets() (awaited) before the next one.
// SIGTERM/SIGINT: consumer.disconnect() (stops the runner, LeaveGroup), exit 0.
//
// stdout, one JSON object per line ("t" = wall clock in microseconds):
//   {"ev":"start","id":..,"version":..}
//   {"ev":"assigned","proto":"EAGER","parts":[..],"owned":[..],"member":..,"leader":bool}
//       on consumer.events.GROUP_JOIN (after SyncGroup); KafkaJS only knows
//       the eager protocol, so parts = owned = the whole assignment.
//   {"ev":"revoked","proto":"EAGER","parts":[..],"owned":[],"lost":false}
//       on consumer.events.REBALANCING (the runner stops fetching and rejoins)
//       and after disconnect()
//   {"ev":"msg","p":P,"o":O,"v":"value"|null}
//   {"ev":"commit","offsets":[[P,NEXT]]} / {"ev":"commit_failed","err":..,"offsets":[[P,NEXT,type]]}
//   {"ev":"error","code":..,"err":..}   (consumer.events.CRASH, ...)
//   {"ev":"nocommit"} / {"ev":"commit_on"}   stdin commands "nocommit" / "commit";
//       end of file on stdin stops the worker like SIGTERM (it dies with the test)
//   {"ev":"closing"} {"ev":"closed","err":null|..}
// --instance-id is refused (exit 2): KafkaJS 2.2.4 has no static membership.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const { performance } = require('perf_hooks')
const { Kafka, logLevel } = require('kafkajs')

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000)
const out = (obj) => process.stdout.write(JSON.stringify({ ...obj, t: nowUs() }) + '\n')

function usage (msg) {
  process.stderr.write(`group_worker.js: ${msg}\nusage: node group_worker.js BOOTSTRAP TOPIC GROUP NAME ` +
    '[--session-ms N] [--heartbeat-ms N] [--strategy roundrobin]\n')
  process.exit(2)
}

const argv = process.argv.slice(2)
if (argv.length < 4) usage('missing arguments')
const [bootstrap, topic, groupId, name] = argv
const opts = { sessionMs: 6000, heartbeatMs: 1000, strategy: 'roundrobin' }
for (let i = 4; i < argv.length; i += 2) {
  const v = argv[i + 1]
  if (v === undefined) usage(`${argv[i]} needs a value`)
  switch (argv[i]) {
    case '--session-ms': opts.sessionMs = Number(v); break
    case '--heartbeat-ms': opts.heartbeatMs = Number(v); break
    case '--strategy':
      if (v !== 'roundrobin') usage(`strategy ${v}: KafkaJS 2.2.4 only has roundrobin`)
      break
    case '--instance-id': usage('KafkaJS 2.2.4 has no static membership (group.instance.id)'); break
    default: usage(`unknown option ${argv[i]}`)
  }
}

const kafka = new Kafka({
  clientId: name,
  brokers: [bootstrap],
  logLevel: logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN'],
  // stdout carries the events: log to stderr.
  logCreator: () => ({ namespace, label, log }) => {
    process.stderr.write(JSON.stringify({ level: label, namespace, ...log }) + '\n')
  },
  connectionTimeout: 10000,
  requestTimeout: 30000,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 }
})

const consumer = kafka.consumer({
  groupId,
  sessionTimeout: opts.sessionMs,
  heartbeatInterval: opts.heartbeatMs,
  rebalanceTimeout: 60000,
  // The runner heartbeats between fetches: keep an idle fetch short so the
  // heartbeat interval holds and rebalances are noticed quickly.
  maxWaitTimeInMs: 200,
  allowAutoTopicCreation: false,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 }
})

let owned = []
let commitsOn = true
let closing = false

const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
consumer.on(GROUP_JOIN, ({ payload }) => {
  owned = [...(payload.memberAssignment[topic] || [])].sort((a, b) => a - b)
  out({ ev: 'assigned', proto: 'EAGER', parts: owned, owned, member: payload.memberId, leader: payload.isLeader })
})
consumer.on(REBALANCING, () => {
  const parts = owned
  owned = []
  out({ ev: 'revoked', proto: 'EAGER', parts, owned, lost: false })
})
consumer.on(CRASH, ({ payload }) => {
  const e = payload.error || {}
  out({ ev: 'error', code: e.type || e.name || null, err: String(e.message || e), restart: payload.restart })
})

let buf = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buf += chunk
  let i
  while ((i = buf.indexOf('\n')) >= 0) {
    const cmd = buf.slice(0, i).trim()
    buf = buf.slice(i + 1)
    if (cmd === 'nocommit') { commitsOn = false; out({ ev: 'nocommit' }) } else if (cmd === 'commit') { commitsOn = true; out({ ev: 'commit_on' }) } else if (cmd) out({ ev: 'error', code: -1, err: `unknown stdin command ${cmd}` })
  }
})
process.stdin.on('error', () => {})
// End of file on stdin: the test process is gone; stop as on SIGTERM.
process.stdin.on('end', () => close('stdin EOF'))

async function close (sig) {
  if (closing) return
  closing = true
  out({ ev: 'closing', signal: sig })
  let err = null
  try {
    await consumer.disconnect()
  } catch (e) {
    err = String(e && e.message ? e.message : e)
  }
  out({ ev: 'revoked', proto: 'EAGER', parts: owned, owned: [], lost: false })
  owned = []
  out({ ev: 'closed', err })
  process.exit(err ? 1 : 0)
}
process.on('SIGTERM', () => close('SIGTERM'))
process.on('SIGINT', () => close('SIGINT'))

async function main () {
  out({ ev: 'start', id: name, version: require('kafkajs/package.json').version })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      out({ ev: 'msg', p: partition, o: Number(message.offset), v: message.value === null ? null : message.value.toString('latin1') })
      if (!commitsOn) return
      const next = (BigInt(message.offset) + 1n).toString()
      try {
        await consumer.commitOffsets([{ topic, partition, offset: next }])
        out({ ev: 'commit', offsets: [[partition, Number(next)]] })
      } catch (e) {
        out({ ev: 'commit_failed', err: e.type || e.name || String(e), offsets: [[partition, Number(next), e.type || null]] })
        throw e // let the runner rejoin; the record is read again by the next owner
      }
    }
  })
}

main().catch((e) => {
  process.stderr.write('group_worker.js failed: ' + (e && e.stack ? e.stack : e) + '\n')
  out({ ev: 'error', code: (e && e.type) || null, err: String(e && e.message ? e.message : e), fatal: true })
  process.exit(1)
})
