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
// (written: the leader wrote it and the answer is lost).
const fail = (code, details = [], written = false) => ({code, details, written});
const notWritten = () => ['WriteOutcome', {outcome: 1}];

// The partition, shared by the fake nodes: records, batches written per (producer id, sequence), every Produce
// request as [node, producerId, sequence, keys], and the script of failures (one consumed per call).
class FakeLog {
  constructor() {
    this.records = [];
    this.batches = new Map();
    this.requests = [];
    this.script = [];
  }

  apply(req) {
    const id = `${req.producer_id}/${req.sequence}`;
    if (this.batches.has(id)) return {base_offset: String(this.batches.get(id)), record_count: req.records.length, duplicate: true};
    const base = this.records.length;
    this.records.push(...req.records);
    this.batches.set(id, base);
    return {base_offset: String(base), record_count: req.records.length};
  }
}

function startNode(log, name) {
  const node = {name, leaderAddress: '', server: new grpc.Server()};
  node.server.addService(api.Log.service, {
    Produce: (call, done) => {
      const req = call.request;
      log.requests.push([name, req.producer_id, Number(req.sequence), req.records.map((r) => r.key.toString())]);
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
      done({code: f.code, details: 'scripted', metadata});
    },
  });
  node.server.addService(api.Admin.service, {
    GetMetadata: (call, done) => done(null, {
      nodes: [{id: '1', client_address: node.leaderAddress}],
      topics: [{name: TOPIC, partition_count: 1, partitions: [{partition: 0, leader_id: '1', leader_term: '1'}]}],
    }),
  });
  return new Promise((resolve, reject) => node.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
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
