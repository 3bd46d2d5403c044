// Brook's compressed batches in Node.js (docs/api.md "Compression"). Reading: CRC-32C, the LZ4 frame format and
// Zstandard (the npm package fzstd, pure JavaScript, decompression only), and expandBatch, which turns a brook.v1.CompressedBatch into
// the records it holds. Node 20's zlib has no Zstandard; LZ4 frames are simple enough to decode here (below), with
// every length and offset checked against the input and the batch's stated size. Writing: compressBatch, one LZ4
// frame of a batch's records for the producer (compressLz4Frame, also written here; fzstd cannot compress, so the
// Node.js producer compresses with LZ4 only).
'use strict';

const path = require('path');
const protobuf = require('protobufjs');

let fzstd = null;
try {
  fzstd = require('fzstd');
} catch (e) {
  fzstd = null;  // without it the client does not ask for compressed batches (canDecompress)
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[b] = c >>> 0;
  }
  return t;
})();

// CRC-32C (Castagnoli) of a Buffer or Uint8Array; crc32c(Buffer.from('123456789')) === 0xe3069283.
function crc32c(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (c >>> 8) ^ CRC32C_TABLE[(c ^ bytes[i]) & 0xff];
  return (c ^ 0xffffffff) >>> 0;
}

function lz4Error(what) {
  return new Error(`LZ4: ${what}`);
}

// Decodes one LZ4 block of src[s, end) into out at d; returns the new end of the output.
function decodeLz4Block(src, s, end, out, d) {
  const length = (initial) => {
    let n = initial;
    if (initial === 15) {
      let b;
      do {
        if (s >= end) throw lz4Error('block is truncated');
        b = src[s++];
        n += b;
      } while (b === 255);
    }
    return n;
  };
  while (s < end) {
    const token = src[s++];
    const literals = length(token >>> 4);
    if (s + literals > end) throw lz4Error('block is truncated');
    if (d + literals > out.length) throw lz4Error(`decompresses to more than ${out.length} bytes`);
    out.set(src.subarray(s, s + literals), d);
    s += literals;
    d += literals;
    if (s === end) break;  // the last sequence holds literals only
    if (s + 2 > end) throw lz4Error('block is truncated');
    const offset = src[s] | (src[s + 1] << 8);
    s += 2;
    if (offset === 0 || offset > d) throw lz4Error('match offset out of range');
    const match = length(token & 15) + 4;
    if (d + match > out.length) throw lz4Error(`decompresses to more than ${out.length} bytes`);
    for (let i = 0; i < match; i++, d++) out[d] = out[d - offset];  // byte by byte: matches may overlap
  }
  return d;
}

// Decodes LZ4 frames (lz4frame.h; several may follow each other, skippable frames are skipped) into a Buffer of at
// most `limit` bytes. Checksums inside the frame are skipped: the batch's CRC-32C covers every byte. Throws.
function decodeLz4Frames(src, limit) {
  const out = Buffer.alloc(limit);
  let s = 0;
  let d = 0;
  const need = (n) => {
    if (s + n > src.length) throw lz4Error('frame is truncated');
  };
  while (s < src.length) {
    need(4);
    const magic = src.readUInt32LE(s);
    s += 4;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {  // skippable frame
      need(4);
      s += 4 + src.readUInt32LE(s);
      if (s > src.length) throw lz4Error('skippable frame is truncated');
      continue;
    }
    if (magic !== 0x184d2204) throw lz4Error('not an LZ4 frame');
    need(3);
    const flags = src[s];
    s += 2;  // FLG and BD
    if (flags >>> 6 !== 1) throw lz4Error('unknown frame version');
    if (flags & 0x01) throw lz4Error('dictionaries are not supported');
    s += (flags & 0x08 ? 8 : 0) + 1;  // content size, header checksum
    for (;;) {
      need(4);
      const word = src.readUInt32LE(s);
      s += 4;
      if (word === 0) break;  // end mark
      const size = word & 0x7fffffff;
      need(size);
      if (word >>> 31) {  // stored uncompressed
        if (d + size > limit) throw lz4Error(`decompresses to more than ${limit} bytes`);
        src.copy(out, d, s, s + size);
        d += size;
      } else {
        d = decodeLz4Block(src, s, s + size, out, d);
      }
      s += size + (flags & 0x10 ? 4 : 0);  // block checksum
    }
    s += flags & 0x04 ? 4 : 0;  // content checksum
    if (s > src.length) throw lz4Error('frame is truncated');
  }
  return out.subarray(0, d);
}

// ---- Writing LZ4 frames (the producer's compression) ----

const XXH_PRIME1 = 2654435761;
const XXH_PRIME2 = 2246822519;
const XXH_PRIME3 = 3266489917;
const XXH_PRIME4 = 668265263;
const XXH_PRIME5 = 374761393;

function rotl32(x, r) {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

// xxHash32 of fewer than 16 bytes with seed 0: all an LZ4 frame header needs (its checksum byte).
// xxh32Short(Buffer.alloc(0)) === 0x02cc5d05.
function xxh32Short(bytes) {
  if (bytes.length >= 16) throw new Error('xxh32Short takes fewer than 16 bytes');
  let h = (XXH_PRIME5 + bytes.length) >>> 0;
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    h = (h + Math.imul(bytes.readUInt32LE(i), XXH_PRIME3)) >>> 0;
    h = Math.imul(rotl32(h, 17), XXH_PRIME4) >>> 0;
  }
  for (; i < bytes.length; i++) {
    h = (h + Math.imul(bytes[i], XXH_PRIME5)) >>> 0;
    h = Math.imul(rotl32(h, 11), XXH_PRIME1) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 15), XXH_PRIME2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), XXH_PRIME3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// The LZ4 block format's rules for the end of a block: the last 5 bytes are literals, and no match starts within
// the last 12.
const LZ4_LAST_LITERALS = 5;
const LZ4_MATCH_START_MARGIN = 12;
const LZ4_MIN_MATCH = 4;
const LZ4_MAX_OFFSET = 65535;
const LZ4_HASH_BITS = 16;

// Compresses src (at most 4 MiB) into one LZ4 block: greedy matching over a 64 Ki-entry table of 4-byte prefixes.
// Returns the block's bytes (which may be longer than src for data that does not compress).
function compressLz4Block(src) {
  const n = src.length;
  const out = Buffer.allocUnsafe(n + Math.ceil(n / 255) + 16);  // the format's worst case
  let o = 0;
  const putLength = (rest) => {  // the bytes after a nibble of 15
    for (; rest >= 255; rest -= 255) out[o++] = 255;
    out[o++] = rest;
  };
  const emit = (from, to, offset, matchLength) => {
    const literals = to - from;
    const token = o++;
    out[token] = Math.min(literals, 15) << 4;
    if (literals >= 15) putLength(literals - 15);
    src.copy(out, o, from, to);
    o += literals;
    if (matchLength === 0) return;  // the last sequence: literals only
    out[o++] = offset & 0xff;
    out[o++] = offset >>> 8;
    const m = matchLength - LZ4_MIN_MATCH;
    out[token] |= Math.min(m, 15);
    if (m >= 15) putLength(m - 15);
  };
  let anchor = 0;
  if (n > LZ4_MATCH_START_MARGIN) {
    const table = new Int32Array(1 << LZ4_HASH_BITS).fill(-1);
    const lastStart = n - LZ4_MATCH_START_MARGIN;
    const matchEnd = n - LZ4_LAST_LITERALS;
    let i = 0;
    let misses = 0;  // since the last match: data that does not compress is skipped through faster and faster
    while (i <= lastStart) {
      const word = src.readUInt32LE(i);
      const h = Math.imul(word, XXH_PRIME1) >>> (32 - LZ4_HASH_BITS);
      const candidate = table[h];
      table[h] = i;
      if (candidate < 0 || i - candidate > LZ4_MAX_OFFSET || src.readUInt32LE(candidate) !== word) {
        i += 1 + (misses++ >> 6);
        continue;
      }
      misses = 0;
      let length = LZ4_MIN_MATCH;
      while (i + length < matchEnd && src[candidate + length] === src[i + length]) length++;
      emit(anchor, i, i - candidate, length);
      i += length;
      anchor = i;
    }
  }
  emit(anchor, n, 0, 0);
  return out.subarray(0, o);
}

// The frame's block maximum size: the smallest of 64 KiB, 256 KiB, 1 MiB and 4 MiB (codes 4 to 7) that holds src in
// one block. A decoder sets aside a buffer of the declared size for every frame: a small batch declared as 4 MiB
// cost liblz4 about 100 us to decode where 64 KiB cost 2.5 us.
function lz4BlockSizeCode(length) {
  for (let code = 4; code < 7; code++) {
    if (length <= 1 << (8 + 2 * code)) return code;
  }
  return 7;
}

// src as one LZ4 frame (lz4frame.h): independent blocks of the declared maximum size, each stored uncompressed when
// compressing does not shrink it, no checksums (a batch's CRC-32C covers the frame), the header checksum byte set.
function compressLz4Frame(src) {
  const code = lz4BlockSizeCode(src.length);
  const blockBytes = 1 << (8 + 2 * code);
  const flg = 0x60;  // version 01, blocks independent
  const bd = code << 4;
  const parts = [Buffer.from([0x04, 0x22, 0x4d, 0x18, flg, bd, (xxh32Short(Buffer.from([flg, bd])) >>> 8) & 0xff])];
  for (let at = 0; at < src.length; at += blockBytes) {
    const chunk = src.subarray(at, Math.min(src.length, at + blockBytes));
    const block = compressLz4Block(chunk);
    const size = Buffer.alloc(4);
    if (block.length < chunk.length) {
      size.writeUInt32LE(block.length);
      parts.push(size, block);
    } else {
      size.writeUInt32LE((chunk.length | 0x80000000) >>> 0);
      parts.push(size, chunk);
    }
  }
  parts.push(Buffer.alloc(4));  // end mark
  return Buffer.concat(parts);
}

const recordsRoot = new protobuf.Root();
recordsRoot.loadSync(path.join(require('./protos').PROTO_DIR, 'brook', 'v1', 'records.proto'), {keepCase: true});
const RecordList = recordsRoot.lookupType('brook.v1.RecordList');

// Whether this process can decode both codecs (fzstd installed).
const canDecompress = fzstd !== null;

// The frames of `data` ('COMPRESSION_LZ4' or 'COMPRESSION_ZSTD') decompressed, at most `limit` bytes; throws past it.
// fzstd cannot stop at a bound (given an output buffer it silently truncates), so Zstandard is decoded whole and
// measured after: expandBatch checks the CRC-32C first, so the bytes are those the leader validated to decompress to
// at most Limits.max_batch_bytes.
function decompress(compression, data, limit) {
  if (compression === 'COMPRESSION_LZ4') return decodeLz4Frames(data, limit);
  if (compression !== 'COMPRESSION_ZSTD' || !fzstd) throw new Error(`cannot decode ${compression}`);
  const out = fzstd.decompress(data);
  if (out.length > limit) throw new Error(`Zstandard: decompresses to more than ${limit} bytes`);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

class DataLossError extends Error {
  constructor(message) {
    super(message);
    this.code = 15;  // grpc.status.DATA_LOSS
  }
}

// The records of a CompressedBatch (as @grpc/proto-loader decodes it: longs as strings, enums as names, bytes as
// Buffers) with offset >= fromOffset, as {offset, timestamp_ms, append_time_ms, key, value, headers} (numbers and
// Buffers). Throws DataLossError when the CRC-32C does not match, or the data does not decompress to exactly
// uncompressed_bytes bytes of a RecordList of record_count records.
function expandBatch(batch, fromOffset) {
  const base = Number(batch.base_offset);
  const where = `compressed batch at offset ${base}`;
  const data = Buffer.from(batch.data);
  const crc = crc32c(data);
  if (crc !== batch.crc32c >>> 0) throw new DataLossError(`${where}: CRC-32C mismatch (batch says ${batch.crc32c}, data has ${crc})`);
  let plain;
  try {
    plain = decompress(batch.compression, data, batch.uncompressed_bytes);
  } catch (e) {
    throw new DataLossError(`${where}: does not decompress: ${e.message}`);
  }
  if (plain.length !== batch.uncompressed_bytes) {
    throw new DataLossError(`${where}: decompresses to ${plain.length} bytes, not ${batch.uncompressed_bytes}`);
  }
  const list = RecordList.toObject(RecordList.decode(plain), {longs: Number, defaults: true});
  if (list.records.length !== batch.record_count) {
    throw new DataLossError(`${where}: says ${batch.record_count} records but holds ${list.records.length}`);
  }
  const appendTime = Number(batch.append_time_ms);
  const out = [];
  list.records.forEach((r, i) => {
    if (base + i < fromOffset) return;
    out.push({offset: base + i, timestamp_ms: r.timestamp_ms || appendTime, append_time_ms: appendTime,
      key: Buffer.from(r.key), value: Buffer.from(r.value), tombstone: Boolean(r.tombstone),
      headers: r.headers.map((h) => ({key: h.key, value: Buffer.from(h.value)}))});
  });
  return out;
}

// The server's Limits.max_batch_bytes (default): a compressed batch may decompress to at most this many bytes, so a
// batch whose records serialize to more goes plain.
const MAX_UNCOMPRESSED_BATCH_BYTES = 4 << 20;

// The ProduceRequest fields that carry `records` ({key, value, headers, tombstone}) as one LZ4 frame of their
// serialized RecordList: {compression, compressed_records, record_count, compressed_crc32c}, and the serialized
// size as uncompressedBytes; null when the records serialize to more than MAX_UNCOMPRESSED_BATCH_BYTES.
function compressBatch(records) {
  const plain = Buffer.from(RecordList.encode(RecordList.fromObject({records})).finish());
  if (plain.length > MAX_UNCOMPRESSED_BATCH_BYTES) return null;
  const data = compressLz4Frame(plain);
  return {fields: {compression: 'COMPRESSION_LZ4', compressed_records: data, record_count: records.length,
    compressed_crc32c: crc32c(data)}, uncompressedBytes: plain.length};
}

module.exports = {crc32c, decodeLz4Frames, decompress, expandBatch, canDecompress, DataLossError, xxh32Short,
  compressLz4Block, compressLz4Frame, lz4BlockSizeCode, compressBatch, MAX_UNCOMPRESSED_BATCH_BYTES, RecordList};
