#!/usr/bin/env node
// Interop check run by client/tests/interop_integration_test.cc (same contract as client/python/interop_check.py):
// verify the C++ producer's records (--expect, JSON lines) by offset, key, value and header ("n"), then produce
// --produce-count records keyed "node-<i>" with the header ("n", "node-header-<i>") and print each as a JSON line.
// Reading options as in the Python script: --from-offset=N, --exact, --require-compressed. --compression=lz4 sends
// the --produce-count records as one compressed batch per partition (sendBatch) instead of one send each.
'use strict';

const fs = require('fs');
const {BrookClient, fnv1a32} = require('./brook');

function flag(name, fallback) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

async function main() {
  const compression = flag('compression', null);
  const client = new BrookClient(flag('bootstrap'), {compression});
  const topic = flag('topic');
  const fromOffset = Number(flag('from-offset', '0'));
  const expected = fs.readFileSync(flag('expect'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .filter((e) => e.offset >= fromOffset);
  const seen = new Map();
  for (const r of await client.readAll(topic, {fromOffset})) {
    const at = `${r.partition}/${r.offset}`;
    if (seen.has(at) || r.offset < fromOffset) throw new Error(`${at} read twice or below --from-offset`);
    seen.set(at, r);
  }
  if (process.argv.includes('--exact') && seen.size !== expected.length) {
    throw new Error(`read ${seen.size} records, expected ${expected.length}`);
  }
  if (process.argv.includes('--require-compressed') && !client.compressedBatchesRead) {
    throw new Error('no compressed batch was decoded by the client (is fzstd installed?)');
  }
  console.error(`read ${seen.size} records, ${client.compressedBatchesRead || 0} compressed batches`);
  for (const e of expected) {
    const r = seen.get(`${e.partition}/${e.offset}`);
    const headers = r && JSON.stringify(r.headers);
    if (!r || r.key !== e.key || r.value !== e.value || headers !== JSON.stringify([{key: 'n', value: e.header}])) {
      throw new Error(`partition ${e.partition} offset ${e.offset}: expected ${JSON.stringify(e)}, read ${JSON.stringify(r)}`);
    }
  }
  const count = Number(flag('produce-count', '5'));
  const partitions = (await client.topic(topic)).partition_count;
  if (compression) {
    // One compressed batch per partition, the records of each in key order.
    const batches = new Map();
    for (let i = 0; i < count; i++) {
      const p = fnv1a32(Buffer.from(`node-${i}`)) % partitions;
      if (!batches.has(p)) batches.set(p, []);
      batches.get(p).push(i);
    }
    for (const [partition, numbers] of [...batches].sort((a, b) => a[0] - b[0])) {
      const records = numbers.map((i) => ({key: Buffer.from(`node-${i}`), value: Buffer.from(`from node ${i}`),
        headers: [{key: 'n', value: Buffer.from(`node-header-${i}`)}]}));
      const base = await client.sendBatch(topic, partition, records);
      numbers.forEach((i, k) => console.log(JSON.stringify({partition, offset: base + k, key: `node-${i}`,
        value: `from node ${i}`, header: `node-header-${i}`})));
    }
    if (client.stats.compressedBatches !== batches.size) {
      throw new Error(`${client.stats.compressedBatches} of ${batches.size} batches went compressed`);
    }
  }
  for (let i = 0; i < (compression ? 0 : count); i++) {
    const key = `node-${i}`;
    const value = `from node ${i}`;
    const header = `node-header-${i}`;
    const {partition, offset} = await client.send(topic, value, key, null, {headers: [['n', header]]});
    if (partition !== fnv1a32(Buffer.from(key)) % partitions) throw new Error('partitioner mismatch');
    console.log(JSON.stringify({partition, offset, key, value, header}));
  }
  client.close();
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
