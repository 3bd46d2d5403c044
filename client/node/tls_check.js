#!/usr/bin/env node
// Produces --count records to --topic and reads the topic back, with TLS and the token from the environment
// (BROOK_TLS_CA, BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN: the client's defaults), for
// client/tests/packages_integration_test.cc (same contract as client/python/tls_check.py). With --whoami it first
// asks brook.v1.Access.WhoAmI. Prints one JSON line: {"produced": N, "read": M, "principal", "method"} and exits 0,
// or {"error", "code"} (the status code's name) and exits 1 for a failed call, 2 for a bad option.
'use strict';

const grpc = require('@grpc/grpc-js');
const {BrookClient} = require('./brook');

function flag(name, fallback) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

async function main() {
  const topic = flag('topic');
  const count = Number(flag('count', '20'));
  const out = {};
  let client;
  try {
    client = new BrookClient(flag('bootstrap'), {timeoutMs: 10000, deliveryTimeoutMs: 10000});
  } catch (err) {
    console.log(JSON.stringify({error: err.message, code: 'INVALID_ARGUMENT'}));
    return 2;
  }
  try {
    if (process.argv.includes('--whoami')) {
      const me = await client.whoAmI();
      Object.assign(out, {principal: me.principal, method: me.method});
    }
    for (let i = 0; i < count; i++) await client.send(topic, `node record ${i}`, `node-${i}`);
    out.produced = count;
    const records = await client.readAll(topic, {timeoutMs: 10000});
    out.read = records.filter((r) => r.value.startsWith('node record ')).length;
  } catch (err) {
    const code = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) || String(err.code);
    console.log(JSON.stringify({error: err.message, code, ...out}));
    return 1;
  } finally {
    client.close();
  }
  console.log(JSON.stringify(out));
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err.stack || String(err));
  process.exit(3);
});
