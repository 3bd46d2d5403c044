// A small Brook client for Node.js on @grpc/grpc-js and @grpc/proto-loader, loading the project's protos at run
// time. Routes each call to the partition leader from GetMetadata and follows brook.v1.NotLeader details (read
// from the grpc-status-details-bin trailer); reads retry UNAVAILABLE and RESOURCE_EXHAUSTED with backoff and
// jitter; send() is an idempotent producer whose rules are written above BrookClient.send.
// Keys choose partitions with FNV-1a 32-bit modulo the partition count, like every Brook client.
// TLS and a bearer token: channelSecurity below (options tlsCaFile, tlsCertFile, tlsKeyFile, token; env BROOK_TLS_CA,
// BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const {expandBatch, canDecompress, compressBatch, RecordList} = require('./compression');
const {PROTO_DIR} = require('./protos');
// brook.v1.Access (WhoAmI) when the protos have it.
const HAS_ACCESS = fs.existsSync(path.join(PROTO_DIR, 'brook', 'v1', 'access.proto'));
const definition = protoLoader.loadSync(
    ['brook/v1/log.proto', 'brook/v1/admin.proto', 'brook/v1/groups.proto'].concat(
        HAS_ACCESS ? ['brook/v1/access.proto'] : []),
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
const WriteOutcome = errorsRoot.lookupType('brook.v1.WriteOutcome');
const SequenceError = errorsRoot.lookupType('brook.v1.SequenceError');
const OffsetMismatch = errorsRoot.lookupType('brook.v1.OffsetMismatch');
const UnknownProducer = errorsRoot.lookupType('brook.v1.UnknownProducer');
const Outcome = WriteOutcome.lookupEnum('Outcome').values;  // name -> number

function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

// The brook.v1 details of a failed call: {code, message, notLeader, retryDelayMs, writeOutcome (a number, or null
// when absent), sequenceError, offsetMismatch, unknownProducer}.
function decodeError(err) {
  const out = {code: err.code, message: err.details, notLeader: null, retryDelayMs: 0, writeOutcome: null,
               sequenceError: null, offsetMismatch: null, unknownProducer: null};
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin');
  if (!raw || raw.length === 0) return out;
  try {
    const status = ErrorStatus.decode(raw[0]);
    for (const any of status.details) {
      const type = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
      if (type === 'brook.v1.NotLeader') out.notLeader = NotLeader.decode(any.value);
      if (type === 'brook.v1.RetryInfo') out.retryDelayMs = RetryInfo.decode(any.value).retry_delay_ms;
      if (type === 'brook.v1.WriteOutcome') out.writeOutcome = WriteOutcome.decode(any.value).outcome;
      if (type === 'brook.v1.SequenceError') out.sequenceError = SequenceError.decode(any.value);
      if (type === 'brook.v1.OffsetMismatch') out.offsetMismatch = OffsetMismatch.decode(any.value);
      if (type === 'brook.v1.UnknownProducer') out.unknownProducer = UnknownProducer.decode(any.value);
    }
  } catch (e) {
    // a malformed trailer leaves code and message
  }
  return out;
}

// Whether a failed Produce certainly wrote nothing (and never will): a WriteOutcome detail that says NOT_WRITTEN,
// or a status that can mean nothing else (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION with SequenceError or
// OffsetMismatch). Anything else, including a deadline that passed on the client, a broken connection, CANCELLED
// or UNAVAILABLE without a WriteOutcome, may have been written (errors.proto WriteOutcome).
function notWritten(e) {
  if (e.writeOutcome !== null && e.writeOutcome !== Outcome.OUTCOME_UNSPECIFIED) {
    return e.writeOutcome === Outcome.NOT_WRITTEN;
  }
  if (e.code === grpc.status.INVALID_ARGUMENT || e.code === grpc.status.NOT_FOUND) return true;
  return e.code === grpc.status.FAILED_PRECONDITION && (e.sequenceError !== null || e.offsetMismatch !== null);
}

// An error a call ended with: `code` is the gRPC status code, `details` the brook.v1 details (decodeError).
class BrookError extends Error {
  constructor(code, message, details = null) {
    super(`${Object.keys(grpc.status).find((k) => grpc.status[k] === code) || code}: ${message}`);
    this.code = code;
    this.details = details;
  }
}

// A random non-zero 63-bit producer id (0 means "not idempotent"; ids with the top bit set are the ones the cluster
// assigns with InitProducer), as a decimal string for the uint64 field.
function newProducerId() {
  for (;;) {
    const id = crypto.randomBytes(8).readBigUInt64BE() & 0x7fffffffffffffffn;
    if (id !== 0n) return id.toString();
  }
}

// Record headers from [[key, value], ...], [{key, value}, ...] or {key: value}; values as Buffer or string.
function toHeaders(headers) {
  if (!headers) return [];
  const pairs = Array.isArray(headers) ?
    headers.map((h) => (Array.isArray(h) ? h : [h.key, h.value])) : Object.entries(headers);
  return pairs.map(([key, value]) => ({key: String(key), value: Buffer.from(value)}));
}

// ---- TLS and bearer tokens (docs/security.md) ----

// An option given (even '', which turns it off) wins over its environment variable.
const optionOrEnv = (value, env) => (value === undefined || value === null ? process.env[env] || '' : value);

function readPem(option, what, file) {
  let data;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${option}: ${what} file '${file}' cannot be read (${e.code || e.message})`);
  }
  if (data.length === 0) throw new Error(`${option}: ${what} file '${file}' cannot be read (it is empty)`);
  return data;
}

// How a client's channels are made, from {tlsCaFile, tlsCertFile, tlsKeyFile, token}; each option left undefined
// comes from BROOK_TLS_CA, BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN, and '' turns it off. With a CA the channels
// speak TLS (grpc.credentials.createSsl), presenting the certificate and key when given; the node's certificate
// must name the host dialled. A token goes with every call as `authorization: Bearer <token>`: by call
// credentials over TLS, as per-call metadata over plaintext (allowed, for loopback testing; anywhere else give a CA
// too, or anyone on the path can read the token). The files are read once, here: one that cannot be read throws,
// naming the option, as the C++ client (Connection::LoadTls) and the CLI refuse it.
// Returns {tls, tlsCaFile, token, credentials, clientOptions}: clientOptions go to each gRPC client's constructor.
function channelSecurity({tlsCaFile, tlsCertFile, tlsKeyFile, token} = {}) {
  const ca = optionOrEnv(tlsCaFile, 'BROOK_TLS_CA');
  const cert = optionOrEnv(tlsCertFile, 'BROOK_TLS_CERT');
  const key = optionOrEnv(tlsKeyFile, 'BROOK_TLS_KEY');
  const bearer = optionOrEnv(token, 'BROOK_TOKEN');
  if (bearer && !/^[\x21-\x7e]+$/.test(bearer)) {
    throw new Error('token: a bearer token is printable ASCII without spaces or line breaks');
  }
  const metadata = () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${bearer}`);
    return md;
  };
  const out = {tls: Boolean(ca), tlsCaFile: ca, token: bearer, clientOptions: {}};
  if (!ca) {
    if (cert || key) {
      throw new Error('tlsCertFile/tlsKeyFile: a TLS certificate or key without a CA: give tlsCaFile (or ' +
                      'BROOK_TLS_CA) too');
    }
    out.credentials = grpc.credentials.createInsecure();
    if (bearer) {
      // gRPC refuses call credentials on a plaintext channel: the interceptor adds the token to each call's metadata.
      out.clientOptions.interceptors = [(options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
        start(md, listener, next) {
          md.merge(metadata());
          next(md, listener);
        },
      })];
    }
    return out;
  }
  const caPem = readPem('tlsCaFile', 'TLS CA', ca);
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error('tlsCertFile/tlsKeyFile: give both the TLS certificate and its key, or neither');
  }
  const certPem = cert ? readPem('tlsCertFile', 'TLS certificate', cert) : null;
  const keyPem = key ? readPem('tlsKeyFile', 'TLS key', key) : null;
  const ssl = grpc.credentials.createSsl(caPem, keyPem, certPem);
  out.credentials = bearer ?
    grpc.credentials.combineChannelCredentials(ssl, grpc.credentials.createFromMetadataGenerator(
        (params, callback) => callback(null, metadata()))) :
    ssl;
  return out;
}

const RETRY = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);
// Produce failures that resending cannot fix: the send ends at once.
const FINAL = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION,
  grpc.status.ALREADY_EXISTS, grpc.status.OUT_OF_RANGE, grpc.status.UNIMPLEMENTED, grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED]);
const MAX_SEND_ATTEMPTS = 1000;  // per send, besides the delivery timeout
// The backoff before a resend ends at least this long before the delivery timeout (or the request timeout, when
// shorter), and a send gives up at once when less is left; a resend that finds less than half of it left (after
// a slow leader look-up) gives up too. An attempt with a few milliseconds would time out on the client, and its
// unknown outcome would replace what the earlier attempts made certain ("it was not written").
const MIN_ATTEMPT_MS = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unary = (client, method, request, timeoutMs) => new Promise((resolve, reject) => {
  client[method](request, {deadline: new Date(Date.now() + timeoutMs)}, (err, res) => (err ? reject(err) : resolve(res)));
});

// Thrown inside a send that ends without an acknowledgement; freshId: the batch may be written (or the partition
// lost track of the producer), so the partition must continue under a new producer id.
class GiveUp {
  constructor(error, freshId) {
    this.error = error;
    this.freshId = freshId;
  }
}

class BrookClient {
  // timeoutMs bounds reads and metadata look-ups; deliveryTimeoutMs bounds a send, retries included;
  // requestTimeoutMs bounds each Produce attempt. tlsCaFile, tlsCertFile, tlsKeyFile and token: channelSecurity
  // (throws at once for a file that cannot be read). compression: null (default) or 'lz4': each sendBatch
  // compresses its batch once, as one LZ4 frame (a batch over 4 MiB serialized goes plain), and the partition
  // stores and serves it compressed (docs/api.md "Compression"); 'zstd' throws (fzstd cannot compress).
  constructor(bootstrap, {timeoutMs = 20000, deliveryTimeoutMs = 30000, requestTimeoutMs = 10000,
    tlsCaFile, tlsCertFile, tlsKeyFile, token, compression = null} = {}) {
    if (compression !== null && compression !== 'lz4') {
      throw new Error(`compression must be null or 'lz4' (the Node.js client cannot write Zstandard), not ${compression}`);
    }
    this.compression = compression;
    // What the sends so far carried, each batch counted once: how well compression did. With compression on,
    // uncompressedBytes: the batches' records serialized; sentBytes: the compressed bytes, or the serialized
    // records of a batch that went plain (without compression only `batches` counts).
    this.stats = {batches: 0, compressedBatches: 0, uncompressedBytes: 0, sentBytes: 0};
    this.bootstrap = bootstrap.split(',').map((s) => s.trim()).filter(Boolean);
    this.security = channelSecurity({tlsCaFile, tlsCertFile, tlsKeyFile, token});
    this.timeoutMs = timeoutMs;
    this.deliveryTimeoutMs = deliveryTimeoutMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.clients = new Map();  // address -> {log, admin}
    this.nodes = new Map();    // node id (string) -> address
    this.topics = new Map();   // name -> Topic
    this.producerId = newProducerId();  // every partition starts under it
    // "topic/partition" -> {producerId, nextSequence, tail}: the partition's idempotence state. `tail` is the
    // promise of its last send: each send starts when the previous one has ended, so one Produce per partition
    // is in flight (order is kept, and a new producer id is never pipelined: docs/api.md "Idempotent produce").
    this.partitions = new Map();
    this.roundRobin = 0;
  }

  stubs(address) {
    if (!this.clients.has(address)) {
      const {credentials, clientOptions} = this.security;
      const stubs = {log: new api.Log(address, credentials, clientOptions),
                     admin: new api.Admin(address, credentials, clientOptions)};
      if (HAS_ACCESS) stubs.access = new api.Access(address, credentials, clientOptions);
      this.clients.set(address, stubs);
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
    throw this.unanswered(last);
  }

  // The error when no node answered: the last one, which says, for a plaintext client, that nodes speaking TLS
  // refuse it (their handshake fails, and gRPC reports only UNAVAILABLE).
  unanswered(last) {
    if (!last) return new BrookError(grpc.status.UNAVAILABLE, 'no node answered');
    if (last.code !== grpc.status.UNAVAILABLE || this.security.tls) return last;
    return new BrookError(last.code, `${last.details || last.message} (if the nodes speak TLS, they refuse this ` +
                          'plaintext client: give tlsCaFile or BROOK_TLS_CA)', decodeError(last));
  }

  // brook.v1.Access.WhoAmI at the first node that answers: {principal, method, superuser, authorization_enabled}
  // of this client's token or certificate. Rejects at once with UNAUTHENTICATED for a missing or wrong token where
  // the nodes check them.
  async whoAmI(timeoutMs = 5000) {
    if (!HAS_ACCESS) throw new BrookError(grpc.status.UNIMPLEMENTED, 'these protos have no brook.v1.Access');
    let last = null;
    for (const address of [...new Set([...this.nodes.values(), ...this.bootstrap])]) {
      try {
        return await unary(this.stubs(address).access, 'WhoAmI', {}, timeoutMs);
      } catch (err) {
        if (!RETRY.has(err.code)) throw err;
        last = err;
      }
    }
    throw this.unanswered(last);
  }

  async topic(name) {
    return this.topics.get(name) || this.refresh(name);
  }

  // The cached leader's address of a partition, or '' when unknown.
  async leaderAddress(topic, partition) {
    const t = await this.topic(topic);
    const p = t.partitions[partition];
    return p && p.leader_id !== '0' ? this.nodes.get(String(p.leader_id)) || '' : '';
  }

  // Takes a NotLeader hint into the cache unless it is older (lower term) than the leader cached.
  learnLeader(hint) {
    const t = this.topics.get(hint.topic);
    const p = t && t.partitions[hint.partition];
    if (!p || String(hint.leader_id) === '0' || BigInt(hint.term) < BigInt(p.leader_term)) return;
    p.leader_id = String(hint.leader_id);
    p.leader_term = String(hint.term);
    if (hint.leader_address) this.nodes.set(String(hint.leader_id), hint.leader_address);
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

  // Produces one record and resolves to {partition, offset}; headers as [[key, value], ...] or {key: value}.
  //
  // Idempotent and safe: every request carries a random 64-bit producer id (per client; per partition after a
  // give-up, below) and the partition's next sequence number. What a send does on each outcome:
  // - Acknowledged, or `duplicate = true` (a resend of a batch the partition already holds): resolves with the
  //   offsets the partition reports, the original ones for a duplicate. The sequence moves past the record.
  // - Outcome unknown (the per-attempt deadline passed, CANCELLED, UNAVAILABLE, a broken connection, or any error
  //   without a WriteOutcome NOT_WRITTEN detail that resending may fix): the SAME request (producer id, sequence,
  //   records) is sent again, at once to the leader a NotLeader names, else after a backoff (20 ms doubling to
  //   1 s, jittered, never below RetryInfo), until it is acknowledged or deliveryTimeoutMs passes.
  // - Certainly not written (notWritten): INVALID_ARGUMENT, NOT_FOUND (after one metadata refresh) or
  //   FAILED_PRECONDITION with OffsetMismatch reject at once and the sequence is not used. A SequenceError also
  //   rejects at once, and the partition starts over under a new producer id (it lost track of this one).
  // - Given up (delivery timeout, or another final error such as FAILED_PRECONDITION without details) after an
  //   attempt whose outcome is unknown: rejects (DEADLINE_EXCEEDED for the timeout) and the partition moves to a
  //   NEW producer id starting at sequence 0; the old sequence is never used for another record. If every attempt
  //   was certainly not written, the sequence is kept.
  // Rejections are BrookError (err.code is the gRPC status code).
  // A value of null makes the record a tombstone: on a compacted topic it deletes its key (sendTombstone).
  async send(topic, value, key = null, partition = null, {headers = null} = {}) {
    const t = await this.topic(topic);
    if (partition === null) {
      partition = key && key.length ? fnv1a32(Buffer.from(key)) % t.partition_count : this.roundRobin++ % t.partition_count;
    }
    const record = {key: key ? Buffer.from(key) : Buffer.alloc(0), value: Buffer.from(value === null ? '' : value),
                    tombstone: value === null, headers: toHeaders(headers)};
    return {partition, offset: await this.sendBatch(topic, partition, [record])};
  }

  // Writes a tombstone for `key` (docs/api.md "Compaction"); resolves to {partition, offset}.
  async sendTombstone(topic, key, partition = null) {
    if (!key || !key.length) throw new Error('a tombstone needs a key');
    return this.send(topic, null, key, partition);
  }

  // Produces records ({key, value, headers} with Buffer key and value) as one batch to one partition, in turn
  // with the partition's other sends. Resolves to the base offset; the records get consecutive offsets.
  sendBatch(topic, partition, records) {
    const id = `${topic}/${partition}`;
    if (!this.partitions.has(id)) {
      this.partitions.set(id, {producerId: this.producerId, nextSequence: 0, tail: Promise.resolve()});
    }
    const state = this.partitions.get(id);
    const run = state.tail.then(() => this.produceInTurn(state, topic, partition, records));
    state.tail = run.catch(() => {});
    return run;
  }

  // The batch's payload for the request: its records, or their compressed form (made once: every attempt resends the
  // same bytes).
  payload(records) {
    this.stats.batches++;
    if (!this.compression) return {records};
    const packed = records.length ? compressBatch(records) : null;
    if (packed === null) {
      const size = RecordList.encode(RecordList.fromObject({records})).finish().length;
      this.stats.uncompressedBytes += size;
      this.stats.sentBytes += size;
      return {records};
    }
    this.stats.compressedBatches++;
    this.stats.uncompressedBytes += packed.uncompressedBytes;
    this.stats.sentBytes += packed.fields.compressed_records.length;
    return packed.fields;
  }

  async produceInTurn(state, topic, partition, records) {
    const payload = this.payload(records);
    for (let attempt = 0; ; ++attempt) {
      const request = {topic, partition, producer_id: state.producerId, sequence: String(state.nextSequence),
        ...payload};
      try {
        const res = await this.deliver(request);
        state.nextSequence += records.length;
        return Number(res.base_offset);
      } catch (err) {
        if (!(err instanceof GiveUp)) throw err;
        if (err.error.details && err.error.details.unknownProducer && attempt === 0) {
          // The partition forgot this producer id (idle for a day, or among too many producers): nothing was
          // written. Start over under a new id, from sequence 0, once.
          state.producerId = newProducerId();
          state.nextSequence = 0;
          continue;
        }
        if (err.freshId) {
          state.producerId = newProducerId();
          state.nextSequence = 0;
        }
        throw err.error;
      }
    }
  }

  // Sends `request` until it is acknowledged; throws GiveUp otherwise.
  async deliver(request) {
    const {topic, partition} = request;
    const deadline = Date.now() + this.deliveryTimeoutMs;
    let maybeWritten = false;  // an attempt failed with an unknown outcome
    let retriedNotFound = false;
    let hinted = '';
    let hintsInARow = 0;
    let bound = 20;
    let last = null;
    const minAttemptMs = Math.min(MIN_ATTEMPT_MS, this.requestTimeoutMs);
    for (let attempt = 0; attempt < MAX_SEND_ATTEMPTS && Date.now() < deadline; attempt++) {
      let address = hinted;
      hinted = '';
      let floor = 0;
      if (!address) {
        try {
          address = await this.leaderAddress(topic, partition);
          if (!address) {
            this.topics.delete(topic);
            address = await this.leaderAddress(topic, partition);
          }
        } catch (err) {  // NOT_FOUND: no such topic; else no node answered
          if (err.code === grpc.status.NOT_FOUND) throw new GiveUp(new BrookError(err.code, err.message), maybeWritten);
          last = err;
          address = '';
        }
      }
      if (address) {
        const left = deadline - Date.now();
        if (left <= 0 || (attempt > 0 && left < minAttemptMs / 2)) break;
        const timeoutMs = Math.min(this.requestTimeoutMs, left);
        let e;
        try {
          return await unary(this.stubs(address).log, 'Produce', request, timeoutMs);
        } catch (err) {
          e = decodeError(err);
          last = new BrookError(e.code, e.message, e);
        }
        maybeWritten = maybeWritten || !notWritten(e);
        if (e.code === grpc.status.NOT_FOUND && !retriedNotFound) {
          retriedNotFound = true;  // the topic may have been recreated: look it up again, once
          this.topics.delete(topic);
          continue;
        }
        if (FINAL.has(e.code)) throw new GiveUp(last, maybeWritten || e.sequenceError !== null);
        const hint = e.notLeader;
        if (hint && hint.leader_address && hint.leader_address !== address && hintsInARow < 3) {
          this.learnLeader(hint);
          hinted = hint.leader_address;
          hintsInARow++;
          continue;  // follow at once
        }
        this.topics.delete(topic);  // ask the cluster again who leads
        floor = e.retryDelayMs || 0;
      }
      hintsInARow = 0;
      const left = deadline - Date.now();
      if (left < minAttemptMs) break;  // no room for another attempt
      await sleep(Math.min(Math.max(floor, bound / 2 + Math.random() * bound / 2), left - minAttemptMs));
      bound = Math.min(bound * 2, 1000);
    }
    throw new GiveUp(new BrookError(grpc.status.DEADLINE_EXCEEDED,
        `${topic}/${partition}: not acknowledged within the delivery timeout (${this.deliveryTimeoutMs} ms); ` +
        `${maybeWritten ? 'it may still be written' : 'it was not written'}; last error: ${last && last.message}`),
    maybeWritten);
  }

  async listOffset(topic, partition, spec) {
    const res = await this.callLeader(topic, partition, (s) => unary(s.log, 'ListOffsets', {topic, partition, spec}, 5000));
    return Number(res.offset);
  }

  // Reads every partition from the beginning (or fromOffset, when above it) up to the current end. Returns
  // [{partition, offset, key, value, headers, tombstone}] with strings for key, value and each header's
  // {key, value}; tombstone is true for a record that deletes its key. Offsets key compaction removed are skipped.
  // With fzstd installed it asks for compressed batches as stored (acceptCompressed) and decompresses them here,
  // checking each batch's CRC-32C (a mismatch rejects with a DataLossError, code DATA_LOSS); a batch served from its
  // middle is skipped up to the offset asked for. this.compressedBatchesRead counts the batches decoded.
  async readAll(topic, {timeoutMs = 30000, fromOffset = 0, acceptCompressed = canDecompress} = {}) {
    const t = await this.topic(topic);
    const out = [];
    const deadline = Date.now() + timeoutMs;
    for (let p = 0; p < t.partition_count; p++) {
      let offset = Math.max(fromOffset, await this.listOffset(topic, p, 'EARLIEST'));
      const end = await this.listOffset(topic, p, 'LATEST');
      while (offset < end && Date.now() < deadline) {
        const request = {topic, partition: p, offset: String(offset), max_wait_ms: 500, accept_compressed: acceptCompressed};
        const res = await this.callLeader(topic, p, (s) => unary(s.log, 'Fetch', request, 5500));
        const records = res.records.map((r) => ({...r, offset: Number(r.offset)}));
        for (const batch of res.compressed_batches || []) {
          records.push(...expandBatch(batch, offset));
          this.compressedBatchesRead = (this.compressedBatchesRead || 0) + 1;
        }
        records.sort((a, b) => a.offset - b.offset);
        for (const r of records) {
          if (r.offset < offset) continue;
          out.push({partition: p, offset: r.offset, key: r.key.toString(), value: r.value.toString(),
                    headers: r.headers.map((h) => ({key: h.key, value: h.value.toString()})),
                    tombstone: Boolean(r.tombstone)});
        }
        offset = Math.max(offset, Number(res.next_offset));
      }
    }
    return out;
  }

  close() {
    for (const c of this.clients.values()) {
      for (const stub of Object.values(c)) stub.close();
    }
  }
}

module.exports = {BrookClient, BrookError, channelSecurity, fnv1a32, decodeError, notWritten, newProducerId};
