#!/usr/bin/env node
// Produces --count distinct records one send at a time and prints every send's outcome, for
// client/tests/lost_answers_integration_test.cc (same contract as client/python/produce_check.py): record i has key
// "<prefix>-i" and value "<prefix> record i"; each stdout line is {"key", "value", "partition", "offset"} for a
// send that succeeded or {"key", "value", "error"} for one that failed (the run goes on, as an application would).
// Exit 0 when every send succeeded, 1 otherwise.
'use strict';

const {BrookClient} = require('./brook');

function flag(name, fallback) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

async function main() {
  const options = {};
  if (flag('delivery-timeout-ms')) options.deliveryTimeoutMs = Number(flag('delivery-timeout-ms'));
  if (flag('request-timeout-ms')) options.requestTimeoutMs = Number(flag('request-timeout-ms'));
  const client = new BrookClient(flag('bootstrap'), options);
  const topic = flag('topic');
  const prefix = flag('prefix', 'node');
  let failed = 0;
  for (let i = 0; i < Number(flag('count', '20')); i++) {
    const line = {key: `${prefix}-${i}`, value: `${prefix} record ${i}`};
    try {
      const {partition, offset} = await client.send(topic, line.value, line.key);
      Object.assign(line, {partition, offset});
    } catch (err) {
      line.error = err.message;
      failed++;
    }
    console.log(JSON.stringify(line));
  }
  client.close();
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err.stack || String(err));
  process.exit(2);
});
