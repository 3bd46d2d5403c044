// A small Brook client for Node.js on @grpc/grpc-js and @grpc/proto-loader, loading the project's protos at run
// time. Routes each call to the partition leader from GetMetadata and follows brook.v1.NotLeader details (read
// from the grpc-status-details-bin trailer); retries UNAVAILABLE and RESOURCE_EXHAUSTED with backoff and jitter.
// Keys choose partitions with FNV-1a 32-bit modulo the partition count, like every Brook client.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync(
    ['brook/v1/log.proto', 'brook/v1/admin.proto', 'brook/v1/groups.proto'],
    {includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true});
const api = grpc.loadPackageDefinition(definition).brook.v1;

// Error details: ErrorStatus and its Any payloads, decoded with protobufjs.
const errorsRoot = new protobuf.Root();
errorsRoot.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
errorsRoot.loadSync('brook/v1/errors.proto', {keepCase: true});
const ErrorStatus = errorsRoot.lookupType('brook.v1.ErrorStatus');
const NotLeader = errorsRoot.lookupType('brook.v1.NotLeader');
const RetryInfo = errorsRoot.lookupType('brook.v1.RetryInfo');

function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

function decodeError(err) {
  const out = {code: err.code, message: err.details, notLeader: null, retryDelayMs: 0};
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin');
  if (!raw || raw.length === 0) return out;
  try {
    const status = ErrorStatus.decode(raw[0]);
    for (const any of status.details) {
      if (any.type_url.endsWith('/brook.v1.NotLeader')) out.notLeader = NotLeader.decode(any.value);
      if (any.type_url.endsWith('/brook.v1.RetryInfo')) out.retryDelayMs = RetryInfo.decode(any.value).retry_delay_ms;
    }
  } catch (e) {
    // a malformed trailer leaves code and message
  }
  return out;
}

const RETRY = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unary = (client, method, request, timeoutMs) => new Promise((resolve, reject) => {
  client[method](request, {deadline: new Date(Date.now() + timeoutMs)}, (err, res) => (err ? reject(err) : resolve(res)));
});

class BrookClient {
  constructor(bootstrap, {timeoutMs = 20000} = {}) {
    this.bootstrap = bootstrap.split(',').map((s) => s.trim()).filter(Boolean);
    this.timeoutMs = timeoutMs;
    this.clients = new Map();  // address -> {log, admin}
    this.nodes = new Map();    // node id (string) -> address
    this.topics = new Map();   // name -> Topic
    this.producerId = (BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n | BigInt(Math.floor(Math.random() * 2 ** 32)) | 1n).toString();
    this.sequences = new Map();
    this.roundRobin = 0;
  }

  stubs(address) {
    if (!this.clients.has(address)) {
      const creds = grpc.credentials.createInsecure();
      this.clients.set(address, {log: new api.Log(address, creds), admin: new api.Admin(address, creds)});
    }
    return this.clients.get(address);
  }

  async refresh(topic) {
    let last = null;
    const addresses = [...new Set([...this.nodes.values(), ...this.bootstrap])];
    for (const address of addresses) {
      try {
        const md = await unary(this.stubs(address).admin, 'GetMetadata', {topics: [topic]}, 3000);
        for (const n of md.nodes) this.nodes.set(String(n.id), n.client_address);
        for (const t of md.topics) this.topics.set(t.name, t);
        if (!this.topics.has(topic)) throw Object.assign(new Error(`topic '${topic}' does not exist`), {code: grpc.status.NOT_FOUND});
        return this.topics.get(topic);
      } catch (err) {
        if (!RETRY.has(err.code)) throw err;
        last = err;
      }
    }
    throw last || new Error('no node answered');
  }

  async topic(name) {
    return this.topics.get(name) || this.refresh(name);
  }

  // Runs fn(stubs) on the partition leader, following NotLeader at once and backing off on other retriable errors.
  async callLeader(topic, partition, fn) {
    const deadline = Date.now() + this.timeoutMs;
    let hinted = '';
    let delay = 20;
    for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
      let address = hinted;
      hinted = '';
      if (!address) {
        const t = await this.topic(topic);
        const p = t.partitions[partition];
        address = p && p.leader_id !== '0' ? this.nodes.get(String(p.leader_id)) : '';
      }
      let floor = 0;
      if (address) {
        try {
          return await fn(this.stubs(address));
        } catch (err) {
          const e = decodeError(err);
          if (e.notLeader && e.notLeader.leader_address && e.notLeader.leader_address !== address) {
            hinted = e.notLeader.leader_address;
            continue;
          }
          if (!RETRY.has(e.code)) throw err;
          floor = e.retryDelayMs;
        }
      }
      this.topics.delete(topic);
      await sleep(Math.max(floor, delay / 2 + Math.random() * delay / 2));
      delay = Math.min(delay * 2, 1000);
    }
    throw new Error(`gave up on ${topic}/${partition}`);
  }

  async send(topic, value, key = null, partition = null) {
    const t = await this.topic(topic);
    if (partition === null) {
      partition = key && key.length ? fnv1a32(Buffer.from(key)) % t.partition_count : this.roundRobin++ % t.partition_count;
    }
    const id = `${topic}/${partition}`;
    const sequence = this.sequences.get(id) || 0;
    const request = {topic, partition, producer_id: this.producerId, sequence: String(sequence),
                     records: [{key: key ? Buffer.from(key) : Buffer.alloc(0), value: Buffer.from(value)}]};
    const res = await this.callLeader(topic, partition, (s) => unary(s.log, 'Produce', request, 5000));
    this.sequences.set(id, sequence + 1);
    return {partition, offset: Number(res.base_offset)};
  }

  async listOffset(topic, partition, spec) {
    const res = await this.callLeader(topic, partition, (s) => unary(s.log, 'ListOffsets', {topic, partition, spec}, 5000));
    return Number(res.offset);
  }

  // Reads every partition from the beginning up to the current end. Returns [{partition, offset, key, value}].
  async readAll(topic, {timeoutMs = 30000} = {}) {
    const t = await this.topic(topic);
    const out = [];
    const deadline = Date.now() + timeoutMs;
    for (let p = 0; p < t.partition_count; p++) {
      let offset = await this.listOffset(topic, p, 'EARLIEST');
      const end = await this.listOffset(topic, p, 'LATEST');
      while (offset < end && Date.now() < deadline) {
        const res = await this.callLeader(topic, p, (s) => unary(s.log, 'Fetch', {topic, partition: p, offset: String(offset), max_wait_ms: 500}, 5500));
        for (const r of res.records) {
          out.push({partition: p, offset: Number(r.offset), key: r.key.toString(), value: r.value.toString()});
        }
        offset = Math.max(offset, Number(res.next_offset));
      }
    }
    return out;
  }

  close() {
    for (const c of this.clients.values()) {
      c.log.close();
      c.admin.close();
    }
  }
}

module.exports = {BrookClient, fnv1a32, decodeError};
