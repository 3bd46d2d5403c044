#!/usr/bin/env node
// Tombstone check run by client/tests/interop_integration_test.cc (same contract as
// client/python/tombstone_check.py): write a record for --key then a tombstone for it (sendTombstone) to --topic,
// read the topic back and print {"offset", "value", "tombstone"} for each record of --key, one JSON line each.
'use strict';

const {BrookClient} = require('./brook');

function flag(name) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
}

async function main() {
  const client = new BrookClient(flag('bootstrap'));
  const topic = flag('topic');
  const key = flag('key');
  await client.send(topic, 'alive', key);
  await client.sendTombstone(topic, key);
  for (const r of await client.readAll(topic)) {
    if (r.key === key) console.log(JSON.stringify({offset: r.offset, value: r.value, tombstone: r.tombstone}));
  }
  client.close();
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
