'use strict'
// Shared setup for the KafkaJS scripts run by tests/integration/test_kafkajs.py.
// Each script reads one JSON plan (file named by argv[2]), prints one JSON
// result on stdout and exits 0; on an unexpected error it prints the error
// on stderr and exits 1.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

function readPlan () {
  return JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
}

// KafkaJS logs to stdout by default; stdout carries the result, so log to stderr.
const stderrLog = () => ({ namespace, label, log }) => {
  process.stderr.write(JSON.stringify({ level: label, namespace, ...log }) + '\n')
}

function client (plan) {
  return new Kafka({
    clientId: 'runnel-kafkajs-test',
    brokers: [plan.bootstrap],
    // KAFKAJS_LOG_LEVEL=DEBUG shows every request and response on stderr.
    logLevel: logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN'],
    logCreator: stderrLog,
    connectionTimeout: plan.timeoutMs || 10000,
    requestTimeout: plan.timeoutMs || 30000,
    retry: { retries: 3, initialRetryTime: 100 }
  })
}

const b64 = (s) => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))

// An error as plain data: name, message, Kafka error type, nested errors.
function errorInfo (e) {
  if (!e) return null
  return {
    name: e.name,
    type: e.type || null,
    code: e.code === undefined ? null : e.code,
    message: e.message,
    errors: Array.isArray(e.errors) ? e.errors.map(errorInfo) : null
  }
}

function main (fn) {
  fn(readPlan())
    .then((out) => {
      process.stdout.write(JSON.stringify(out) + '\n')
      process.exit(0)
    })
    .catch((e) => {
      process.stderr.write('kafkajs script failed: ' + (e && e.stack ? e.stack : e) + '\n')
      process.stderr.write(JSON.stringify(errorInfo(e)) + '\n')
      process.exit(1)
    })
}

module.exports = { client, b64, errorInfo, main }
