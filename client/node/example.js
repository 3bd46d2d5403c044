#!/usr/bin/env node
// Example: produce a few keyed records and read the topic back.
//   BROOK_BOOTSTRAP=127.0.0.1:7101 node example.js TOPIC
// Runs in client/node of a checkout, or copied into a project that installed the package (brook-client).
'use strict';

const {BrookClient} = requireBrook();

function requireBrook() {
  try {
    return require('brook-client');
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes("'brook-client'")) throw e;
    return require('./brook');
  }
}

async function main() {
  const topic = process.argv[2] || 'example';
  const client = new BrookClient(process.env.BROOK_BOOTSTRAP || '127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103');
  for (let i = 0; i < 3; i++) {
    const {partition, offset} = await client.send(topic, `hello ${i}`, `user-${i}`);
    console.log(`produced user-${i} to ${topic}/${partition} at offset ${offset}`);
  }
  for (const r of await client.readAll(topic)) console.log(`${r.partition}\t${r.offset}\t${r.key}\t${r.value}`);
  client.close();
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
