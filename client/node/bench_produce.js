#!/usr/bin/env node
// Batched produce throughput of the Node.js client without compression and with LZ4, interleaved in rounds, on
// JSON-like records: records/s, MB/s of values, and the compression ratio. Needs a running cluster and a topic
// (docs/performance.md "Compression in the Python and Node.js producers").
//   NODE_PATH=<node_modules> node client/node/bench_produce.js --bootstrap=127.0.0.1:7101 --topic=nodebench
'use strict';

const {BrookClient} = require('./brook');

function flag(name, fallback) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

const value = (i) => Buffer.from(`{"order_id": ${i}, "customer": "user-${i % 1000}", "status": "shipped", ` +
    `"items": [{"sku": "mouse-01", "qty": 1}, {"sku": "cable-usb-c", "qty": 2}], ` +
    `"address": "221B Baker Street, London", "note": "leave at the door"}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const bootstrap = flag('bootstrap');
  const topic = flag('topic');
  const partition = Number(flag('partition', '0'));
  const batches = Number(flag('batches', '100'));
  const perBatch = Number(flag('per-batch', '500'));
  const rounds = Number(flag('rounds', '3'));
  if (!bootstrap || !topic) throw new Error('usage: bench_produce.js --bootstrap=HOST:PORT --topic=NAME');
  for (const [name, v, max] of [['batches', batches, 100000], ['per-batch', perBatch, 100000], ['rounds', rounds, 100]]) {
    if (!(Number.isInteger(v) && v >= 1 && v <= max)) throw new Error(`--${name} must be 1 to ${max}`);
  }
  const rates = {none: [], lz4: []};
  for (let round = 0; round < rounds; round++) {
    for (const compression of [null, 'lz4']) {
      const client = new BrookClient(bootstrap, {compression});
      const start = Date.now();
      let valueBytes = 0;
      for (let b = 0; b < batches; b++) {
        const records = Array.from({length: perBatch}, (_, i) =>
          ({key: Buffer.from(`k${i}`), value: value(b * perBatch + i), headers: []}));
        for (const r of records) valueBytes += r.value.length;
        await client.sendBatch(topic, partition, records);
      }
      const took = (Date.now() - start) / 1000;
      const rate = batches * perBatch / took;
      rates[compression || 'none'].push(rate);
      const ratio = compression ? client.stats.uncompressedBytes / client.stats.sentBytes : 1;
      console.log(`round ${round} ${(compression || 'none').padEnd(4)} ${rate.toFixed(0).padStart(8)} records/s ` +
          `${(valueBytes / took / 1e6).toFixed(1)} MB/s of values, ratio ${ratio.toFixed(2)}`);
      client.close();
    }
  }
  for (const [codec, r] of Object.entries(rates)) {
    console.log(`median ${codec.padEnd(4)} ${median(r).toFixed(0).padStart(8)} records/s  ` +
        `${(median(r) / median(rates.none)).toFixed(2)}x none`);
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
