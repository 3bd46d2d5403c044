#!/usr/bin/env node
// The Node.js client's rules for each outcome of a send (brook.js, BrookClient.send), against in-process fake
// leaders that keep the idempotence rules (a resent batch is answered with its original offsets) and fail calls on
// a script. Same scenarios as client/python/producer_rules_test.py.
//   NODE_PATH=<node_modules> node --test client/node/producer_rules_test.js   (ctest: client_node_producer_test)
'use strict';

const assert = require('assert');
const path = require('path');
const {test} = require('node:test');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const {BrookClient} = require('./brook');
const {crc32c, decodeLz4Frames, RecordList, MAX_UNCOMPRESSED_BATCH_BYTES} = require('./compression');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const api = grpc.loadPackageDefinition(protoLoader.loadSync(['brook/v1/log.proto', 'brook/v1/admin.proto'],
    {includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true})).brook.v1;
const errorsRoot = new protobuf.Root();
errorsRoot.resolvePath = (origin, target) =>
  target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
errorsRoot.loadSync('brook/v1/errors.proto', {keepCase: true});
const type = (name) => errorsRoot.lookupType(`brook.v1.${name}`);
const S = grpc.status;
const TOPIC = 't';

// One scripted failure: `code` with brook.v1 details ([typeName, fields]), before the batch is applied or after it
// (written: the leader wrote it and the answer is lost), answered after `delayMs`.
const fail = (code, details = [], written = false, delayMs = 0) => ({code, details, written, delayMs});
const notWritten = () => ['WriteOutcome', {outcome: 1}];

// The records of a Produce request, plain or compressed (checked as the leader checks them).
function recordsOf(req) {
  if (req.compression === 'COMPRESSION_NONE') return req.records;
  assert.strictEqual(req.compression, 'COMPRESSION_LZ4');
  assert.strictEqual(req.records.length, 0, 'a compressed batch carries no plain records');
  assert.strictEqual(crc32c(req.compressed_records), req.compressed_crc32c >>> 0, 'CRC-32C');
  const plain = decodeLz4Frames(req.compressed_records, MAX_UNCOMPRESSED_BATCH_BYTES);
  const records = RecordList.toObject(RecordList.decode(plain), {defaults: true}).records;
  assert.strictEqual(records.length, req.record_count);
  return records.map((r) => ({...r, key: Buffer.from(r.key), value: Buffer.from(r.value)}));
}

// The partition, shared by the fake nodes: records, batches written per (producer id, sequence), every Produce
// request as [node, producerId, sequence, keys], and the script of failures (one consumed per call).
class FakeLog {
  constructor() {
    this.records = [];
    this.batches = new Map();
    this.requests = [];
    this.compressed = [];  // [compression, compressed_records] of every Produce request
    this.script = [];
  }

  apply(req) {
    const id = `${req.producer_id}/${req.sequence}`;
    const records = recordsOf(req);
    if (this.batches.has(id)) return {base_offset: String(this.batches.get(id)), record_count: records.length, duplicate: true};
    const base = this.records.length;
    this.records.push(...records);
    this.batches.set(id, base);
    return {base_offset: String(base), record_count: records.length};
  }
}

// node.authorization: the `authorization` metadata of every call, in order ('' when absent).
function startNode(log, name, serverCredentials = grpc.ServerCredentials.createInsecure()) {
  const node = {name, leaderAddress: '', server: new grpc.Server(), authorization: []};
  const note = (call) => node.authorization.push(String(call.metadata.get('authorization')[0] || ''));
  node.server.addService(api.Log.service, {
    Produce: (call, done) => {
      note(call);
      const req = call.request;
      log.requests.push([name, req.producer_id, Number(req.sequence), recordsOf(req).map((r) => r.key.toString())]);
      log.compressed.push([req.compression, Buffer.from(req.compressed_records)]);
      const f = log.script.shift();
      if (!f) return done(null, log.apply(req));
      if (f.written) log.apply(req);
      const metadata = new grpc.Metadata();
      if (f.details.length) {
        const details = f.details.map(([t, fields]) =>
          ({type_url: `type.googleapis.com/brook.v1.${t}`, value: type(t).encode(type(t).fromObject(fields)).finish()}));
        const status = type('ErrorStatus').encode({code: f.code, message: 'scripted', details}).finish();
        metadata.set('grpc-status-details-bin', Buffer.from(status));
      }
      setTimeout(() => done({code: f.code, details: 'scripted', metadata}), f.delayMs);
    },
  });
  node.server.addService(api.Admin.service, {
    GetMetadata: (call, done) => {
      note(call);
      done(null, {
        nodes: [{id: '1', client_address: node.leaderAddress}],
        topics: [{name: TOPIC, partition_count: 1, partitions: [{partition: 0, leader_id: '1', leader_term: '1'}]}],
      });
    },
  });
  return new Promise((resolve, reject) => node.server.bindAsync('127.0.0.1:0', serverCredentials,
      (err, port) => {
        if (err) return reject(err);
        node.address = `127.0.0.1:${port}`;
        resolve(node);
      }));
}

async function setUp() {
  const log = new FakeLog();
  const node = await startNode(log, 'a');
  node.leaderAddress = node.address;
  const client = new BrookClient(node.address, {deliveryTimeoutMs: 5000, requestTimeoutMs: 2000});
  await client.topic(TOPIC);  // connected and routed: a short delivery timeout below is all spent on sends
  const send = (key, headers = null) => client.send(TOPIC, `value of ${key}`, key, 0, {headers});
  const tearDown = () => {
    client.close();
    node.server.forceShutdown();
  };
  return {log, node, client, send, tearDown};
}

const idAndSequence = (r) => `${r[1]}/${r[2]}`;

test('a lost answer is resent with the same id and sequence and reports the original offset', async () => {
  const {log, client, send, tearDown} = await setUp();
  try {
    log.script = [fail(S.DEADLINE_EXCEEDED, [], true), fail(S.UNAVAILABLE, [], true), fail(S.CANCELLED, [], true)];
    assert.deepStrictEqual(await send('r0', [['trace', '1']]), {partition: 0, offset: 0});
    assert.deepStrictEqual(await send('r1'), {partition: 0, offset: 1});
    const pid = client.producerId;
    assert.deepStrictEqual(log.requests.map((r) => r.slice(1)),
        [...Array(4).fill([pid, 0, ['r0']]), [pid, 1, ['r1']]]);
    assert.deepStrictEqual(log.records.map((r) => r.key.toString()), ['r0', 'r1'], 'each record once');
    assert.deepStrictEqual(log.records[0].headers.map((h) => [h.key, h.value.toString()]), [['trace', '1']]);
  } finally {
    tearDown();
  }
});

test('a compressing client sends each batch as one LZ4 frame and resends the same bytes', async () => {
  const {log, node, tearDown} = await setUp();
  const client = new BrookClient(node.address, {deliveryTimeoutMs: 5000, requestTimeoutMs: 2000, compression: 'lz4'});
  try {
    log.script = [fail(S.UNAVAILABLE, [], true)];  // the answer is lost: resent
    const value = Buffer.from(`{"order": 1, "status": "shipped", "note": "${'x'.repeat(400)}"}`);
    const records = Array.from({length: 20}, (_, i) => ({key: Buffer.from(`k${i}`), value,
      headers: [{key: 'n', value: Buffer.from(`${i}`)}]}));
    records.push({key: Buffer.from('gone'), value: Buffer.alloc(0), tombstone: true, headers: []});
    assert.strictEqual(await client.sendBatch(TOPIC, 0, records), 0);
    assert.strictEqual(log.compressed.length, 2);
    assert.strictEqual(log.compressed[0][0], 'COMPRESSION_LZ4');
    assert.ok(log.compressed[0][1].equals(log.compressed[1][1]), 'the resend carries the same compressed bytes');
    assert.deepStrictEqual(log.requests.map((r) => r[3]), Array(2).fill(records.map((r) => r.key.toString())));
    assert.strictEqual(log.records.length, 21, 'written once');
    assert.strictEqual(log.records[3].headers[0].value.toString(), '3');
    assert.ok(log.records[20].tombstone);
    assert.strictEqual(client.stats.batches, 1);
    assert.strictEqual(client.stats.compressedBatches, 1);
    assert.ok(client.stats.sentBytes * 5 < client.stats.uncompressedBytes, 'repetitive JSON shrinks');
    assert.throws(() => new BrookClient(node.address, {compression: 'zstd'}), /cannot write Zstandard/);
  } finally {
    client.close();
    tearDown();
  }
});

test('not written until the delivery timeout keeps the sequence', async () => {
  const {log, client, send, tearDown} = await setUp();
  try {
    client.deliveryTimeoutMs = 1000;
    log.script = Array(1000).fill(fail(S.UNAVAILABLE, [notWritten()]));
    await assert.rejects(send('r0'), (err) => err.code === S.DEADLINE_EXCEEDED && /it was not written/.test(err.message));
    log.script = [];
    assert.deepStrictEqual(await send('r1'), {partition: 0, offset: 0});
    assert.ok(log.requests.length >= 3, 'resent while not written');
    assert.deepStrictEqual(new Set(log.requests.map(idAndSequence)), new Set([`${client.producerId}/0`]));
  } finally {
    tearDown();
  }
});

test('no resend starts with too little of the delivery timeout left to learn its outcome', async () => {
  // RetryInfo asks for a wait that ends 10 ms before the delivery timeout, and every answer takes 40 ms. A resend
  // started after that wait would time out on the client and turn "not written" into "may still be written".
  const {log, client, send, tearDown} = await setUp();
  try {
    client.deliveryTimeoutMs = 1000;
    log.script = [fail(S.UNAVAILABLE, [notWritten(), ['RetryInfo', {retry_delay_ms: 990}]]),
      ...Array(10).fill(fail(S.UNAVAILABLE, [notWritten()], false, 40))];
    const start = Date.now();
    await assert.rejects(send('r0'), (err) => err.code === S.DEADLINE_EXCEEDED && /it was not written/.test(err.message));
    assert.ok(Date.now() - start <= 1000 + 250, `gave up after ${Date.now() - start} ms`);
    assert.strictEqual(log.requests.length, 2, 'one resend, in time to hear its answer');
    assert.strictEqual(idAndSequence(log.requests[1]), `${client.producerId}/0`);
  } finally {
    tearDown();
  }
});

test('a refused batch fails at once and keeps the sequence', async () => {
  const {log, client, send, tearDown} = await setUp();
  try {
    for (const [code, details] of [[S.INVALID_ARGUMENT, []], [S.NOT_FOUND, []],
      [S.FAILED_PRECONDITION, [['OffsetMismatch', {}]]]]) {
      log.requests = [];
      log.script = [fail(code, details), fail(code, details)];  // NOT_FOUND is looked up again once
      await assert.rejects(send('refused'), (err) => err.code === code);
      assert.strictEqual(log.requests.length, code === S.NOT_FOUND ? 2 : 1, `${code}: not resent`);
      log.script = [];
    }
    assert.deepStrictEqual(await send('r1'), {partition: 0, offset: 0});
    assert.strictEqual(idAndSequence(log.requests.at(-1)), `${client.producerId}/0`);
  } finally {
    tearDown();
  }
});

test('an unknown outcome until the delivery timeout moves the partition to a new producer id', async () => {
  const {log, client, send, tearDown} = await setUp();
  try {
    client.deliveryTimeoutMs = 1000;
    log.script = [fail(S.UNAVAILABLE, [notWritten()]), fail(S.DEADLINE_EXCEEDED, [], true),
      ...Array(1000).fill(fail(S.UNAVAILABLE, [notWritten()]))];
    await assert.rejects(send('r0'), (err) => err.code === S.DEADLINE_EXCEEDED && /may still be written/.test(err.message));
    const old = client.producerId;
    assert.deepStrictEqual(new Set(log.requests.map(idAndSequence)), new Set([`${old}/0`]), 'same id and sequence');
    log.script = [];
    assert.deepStrictEqual(await send('r1'), {partition: 0, offset: 1}, 'written after r0, not as its duplicate');
    const [, newId, sequence] = log.requests.at(-1);
    assert.notStrictEqual(newId, old);
    assert.strictEqual(sequence, 0);
    assert.deepStrictEqual(log.records.map((r) => r.key.toString()), ['r0', 'r1']);
  } finally {
    tearDown();
  }
});

test('a sequence error fails at once and moves to a new producer id', async () => {
  const {log, send, tearDown} = await setUp();
  try {
    log.script = [fail(S.FAILED_PRECONDITION, [['SequenceError', {expected_sequence: 5}]])];
    await assert.rejects(send('r0'), (err) => err.code === S.FAILED_PRECONDITION);
    assert.deepStrictEqual(await send('r1'), {partition: 0, offset: 0});
    assert.strictEqual(log.requests.length, 2);
    assert.notStrictEqual(log.requests[1][1], log.requests[0][1]);
    assert.strictEqual(log.requests[1][2], 0);
  } finally {
    tearDown();
  }
});

test('NotLeader is followed at once with the same sequence', async () => {
  const {log, client, send, tearDown} = await setUp();
  const other = await startNode(log, 'b');
  try {
    log.script = [fail(S.UNAVAILABLE, [['NotLeader', {topic: TOPIC, partition: 0, leader_id: 2,
      leader_address: other.address, term: 2}]])];
    assert.deepStrictEqual(await send('r0'), {partition: 0, offset: 0});
    assert.deepStrictEqual(log.requests.map((r) => r.slice(0, 3)),
        [['a', client.producerId, 0], ['b', client.producerId, 0]]);
  } finally {
    other.server.forceShutdown();
    tearDown();
  }
});

test('RetryInfo is honoured', async () => {
  const {log, send, tearDown} = await setUp();
  try {
    log.script = [fail(S.RESOURCE_EXHAUSTED, [['RetryInfo', {retry_delay_ms: 300}]])];
    const start = Date.now();
    assert.deepStrictEqual(await send('r0'), {partition: 0, offset: 0});
    assert.ok(Date.now() - start >= 300, `resent after ${Date.now() - start} ms`);
  } finally {
    tearDown();
  }
});

test('concurrent sends to one partition take turns', async () => {
  const {log, send, tearDown} = await setUp();
  try {
    const results = await Promise.all([...Array(20).keys()].map((i) => send(`k${i}`)));
    assert.deepStrictEqual(results.map((r) => r.offset).sort((a, b) => a - b), [...Array(20).keys()]);
    assert.deepStrictEqual(log.requests.map((r) => r[2]), [...Array(20).keys()], 'one sequence per record, in order');
  } finally {
    tearDown();
  }
});

// ---- TLS and the bearer token (channelSecurity) ----

// A fake node started with `serverCredentials` and a client with `options`; BROOK_TOKEN and BROOK_TLS_* are cleared
// for the test unless `env` sets them.
async function withNode(serverCredentials, options, fn, env = {}) {
  const saved = {};
  for (const k of ['BROOK_TOKEN', 'BROOK_TLS_CA', 'BROOK_TLS_CERT', 'BROOK_TLS_KEY']) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  Object.assign(process.env, env);
  const log = new FakeLog();
  const node = await startNode(log, 'a', serverCredentials);
  node.leaderAddress = node.address;
  const clients = [];
  const client = (o = options) => {
    const c = new BrookClient(node.address, {deliveryTimeoutMs: 5000, requestTimeoutMs: 2000, timeoutMs: 2000, ...o});
    clients.push(c);
    return c;
  };
  try {
    await fn({log, node, client});
  } finally {
    for (const c of clients) c.close();
    node.server.forceShutdown();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('the token goes with every plaintext call', async () => {
  await withNode(undefined, {token: 's3cret-token'}, async ({node, client}) => {
    const c = client();
    for (let i = 0; i < 3; i++) assert.deepStrictEqual(await c.send(TOPIC, 'v', null, 0), {partition: 0, offset: i});
    assert.deepStrictEqual(node.authorization, Array(4).fill('Bearer s3cret-token'), 'GetMetadata and 3 Produce');
  });
});

test('the token comes from BROOK_TOKEN and an empty option turns it off', async () => {
  await withNode(undefined, {}, async ({node, client}) => {
    await client().send(TOPIC, 'v', null, 0);
    await client({token: ''}).send(TOPIC, 'v', null, 0);
    assert.deepStrictEqual(node.authorization, ['Bearer from-env', 'Bearer from-env', '', '']);
  }, {BROOK_TOKEN: 'from-env'});
});

test('UNAUTHENTICATED and PERMISSION_DENIED are never retried', async () => {
  await withNode(undefined, {token: 'wrong'}, async ({log, client}) => {
    const c = client();
    await c.topic(TOPIC);
    for (const code of [S.UNAUTHENTICATED, S.PERMISSION_DENIED]) {
      log.script = [fail(code)];
      const before = log.requests.length;
      const start = Date.now();
      await assert.rejects(c.send(TOPIC, 'v', null, 0), (err) => err.code === code);
      assert.strictEqual(log.requests.length - before, 1, `${code} was sent again`);
      assert.ok(Date.now() - start < 1000);
    }
  });
});

test('bad files and tokens are clear errors', async () => {
  await withNode(undefined, {}, async () => {
    for (const [options, message] of [
      [{tlsCaFile: '/nonexistent/ca.pem'}, /tlsCaFile: TLS CA file '\/nonexistent\/ca.pem' cannot be read/],
      [{tlsCaFile: '', tlsCertFile: 'c.pem', tlsKeyFile: 'c.key'}, /without a CA/],
      [{tlsCaFile: '', token: 'two words'}, /token: /],
      [{}, /tlsCaFile: TLS CA file '\/nonexistent\/env-ca.pem' cannot be read/],
    ]) {
      assert.throws(() => new BrookClient('127.0.0.1:1', options), message);
    }
  }, {BROOK_TLS_CA: '/nonexistent/env-ca.pem'});
});

test('TLS with a client certificate and the token; plaintext to it is refused', async () => {
  const fs = require('fs');
  const os = require('os');
  const {execFileSync} = require('child_process');
  const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-node-tls-'));
  try {
    const script = path.resolve(__dirname, '..', '..', 'scripts', 'make-certs.sh');
    execFileSync('bash', [script, certs, '1', '127.0.0.1,localhost', 'app'], {stdio: 'ignore'});
    const read = (f) => fs.readFileSync(path.join(certs, f));
    const server = grpc.ServerCredentials.createSsl(read('ca.pem'),
        [{private_key: read('node-1.key'), cert_chain: read('node-1.pem')}], true);
    const options = {tlsCaFile: path.join(certs, 'ca.pem'), tlsCertFile: path.join(certs, 'client-app.pem'),
      tlsKeyFile: path.join(certs, 'client-app.key'), token: 'over-tls'};
    await withNode(server, options, async ({node, client}) => {
      node.leaderAddress = node.address.replace('127.0.0.1', 'localhost');
      assert.deepStrictEqual(await client().send(TOPIC, 'v', null, 0), {partition: 0, offset: 0});
      assert.deepStrictEqual(node.authorization, ['Bearer over-tls', 'Bearer over-tls']);
      await assert.rejects(client({}).topic(TOPIC),
          (err) => err.code === S.UNAVAILABLE && /tlsCaFile or BROOK_TLS_CA/.test(err.message));
    });
  } finally {
    fs.rmSync(certs, {recursive: true, force: true});
  }
});
