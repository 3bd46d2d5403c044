#!/usr/bin/env node
// Compressed batches in Node.js (compression.js). Reading: CRC-32C, the LZ4 frame decoder (linked 64 KiB blocks with
// block and content checksums, a frame without a declared size after it), Zstandard through fzstd, and expandBatch
// (records from an offset; DATA_LOSS for a damaged or inconsistent batch; never more than the stated size).
// The frames below were written by liblz4 and libzstd (Debian's python3-lz4 and python3-zstandard). Writing: xxHash32
// known answers (the frame header's checksum byte), LZ4 frames that round-trip through the decoder for inputs that
// do and do not compress (runs, matches near the end and past 64 KiB, a 5 MiB input in two blocks), the declared
// block size (the smallest that holds the input), and compressBatch
// (a batch over 4 MiB goes plain). liblz4 reading these frames is client_compression_integration_test's part.
//   NODE_PATH=<node_modules> node --test client/node/compression_test.js   (ctest: client_node_compression_test)
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');
const {test} = require('node:test');
const protobuf = require('protobufjs');
const {crc32c, decodeLz4Frames, decompress, expandBatch, canDecompress, xxh32Short, compressLz4Frame, compressBatch,
  MAX_UNCOMPRESSED_BATCH_BYTES, lz4BlockSizeCode} = require('./compression');

// b''.join(b'%02d-brook;' % (i % 97) for i in range(8000))[:70000], then b'tail: stored as is, short'.
const PLAIN_SHA256 = 'b296970e5e103022e193ffa378e2d76b626d643d8d6244bc97d967be61796056';
const TAIL = 'tail: stored as is, short';
const LZ4_FRAMES = Buffer.from(
    'BCJNGFxAcBEBAAAAAADjkQIAALQwMC1icm9vazswMQkAFDIJABQzCQAUNAkAFDUJABQ2CQAUNwkAFDgJABM5CQAUMVoAFDFaABQxWgAUMVoA' +
    'FDFaABQxWgAUMVoAFDFaABQxWgAUMVoAFDJaABQyWgAUMloAFDJaABQyWgAUMloAFDJaABQyWgAUMloAFDJaABQzWgAUM1oAFDNaABQzWgAU' +
    'M1oAFDNaABQzWgAUM1oAFDNaABQzWgAUNFoAFDRaABQ0WgAUNFoAFDRaABQ0WgAUNFoAFDRaABQ0WgAUNFoAFDVaABQ1WgAUNVoAFDVaABQ1' +
    'WgAUNVoAFDVaABQ1WgAUNVoAFDVaABQ2WgAUNloAFDZaABQ2WgAUNloAFDZaABQ2WgAUNloAFDZaABQ2WgAUN1oAFDdaABQ3WgAUN1oAFDda' +
    'ABQ3WgAUN1oAFDdaABQ3WgAUN1oAFDhaABQ4WgAUOFoAFDhaABQ4WgAUOFoAFDhaABQ4WgAUOFoAFDhaABQ5WgAUOVoAFDlaABQ5WgAUOVoA' +
    'FDlaABQ5WgAPaQP/////////////////////////////////////////////////////////////////////////////////////////////' +
    '////////////////////////////////////////////////////////////////////////////////////////////////////////////' +
    '////////////////////////////////////////////////////////////////////////////////////////////////////////////' +
    '////////////////////////////fFAtYnJvb6MlHrcbAAAAD8P///////////////////////9pUC1icm9vIfvoYgAAAADjaZbeBCJNGGBA' +
    'ghkAAIB0YWlsOiBzdG9yZWQgYXMgaXMsIHNob3J0AAAAAA==',
    'base64');
const ZSTD_FRAMES = Buffer.from(
    'KLUv/aBwEQEAxQMA4gcTEdBlOGBQHhQRUkopU0ovASMCRSNxl5vEXa6KRuIuR0UjcZebopG4y0nRSNzlomgk7nIvGom7nItG4i7XopG4y7Fo' +
    'JO5yAMEwDALCFmuoILj7BvCV3RIYh7////+fAaoNbNvq8CdiwTO+ARs/kRTcoAwC4zIFKLUv/QAAyQAAdGFpbDogc3RvcmVkIGFzIGlzLCBz' +
    'aG9ydA==',
    'base64');

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('crc32c has the known answer', () => {
  assert.strictEqual(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('LZ4 frames decode: linked blocks, checksums, several frames', () => {
  const out = decodeLz4Frames(LZ4_FRAMES, 70000 + TAIL.length);
  assert.strictEqual(sha256(out.subarray(0, 70000)), PLAIN_SHA256);
  assert.strictEqual(out.subarray(70000).toString(), TAIL);
});

test('LZ4 decoding stops at its bound and refuses damaged frames', () => {
  assert.throws(() => decodeLz4Frames(LZ4_FRAMES, 70000), /more than 70000 bytes/);
  for (const limit of [0, 5, 1000, 65536]) {  // inside the first frame's compressed blocks
    assert.throws(() => decodeLz4Frames(LZ4_FRAMES, limit), new RegExp(`more than ${limit} bytes`));
  }
  assert.throws(() => decodeLz4Frames(LZ4_FRAMES.subarray(0, 300), 1 << 20), /truncated/);
  assert.throws(() => decodeLz4Frames(Buffer.from('not an lz4 frame'), 100), /not an LZ4 frame/);
});

test('Zstandard frames decode through fzstd, several frames too', {skip: !canDecompress && 'no fzstd'}, () => {
  const out = decompress('COMPRESSION_ZSTD', ZSTD_FRAMES, 70000 + TAIL.length);
  assert.strictEqual(out.length, 70000 + TAIL.length);
  assert.strictEqual(sha256(out.subarray(0, 70000)), PLAIN_SHA256);
  assert.strictEqual(out.subarray(70000).toString(), TAIL);
  assert.throws(() => decompress('COMPRESSION_ZSTD', ZSTD_FRAMES, 70000), /more than 70000 bytes/);
  assert.throws(() => decompress('COMPRESSION_ZSTD', ZSTD_FRAMES.subarray(0, 100), 1 << 20));
  assert.throws(() => decompress('COMPRESSION_GZIP', ZSTD_FRAMES, 1 << 20), /cannot decode/);
});

const root = new protobuf.Root();
root.loadSync(path.resolve(__dirname, '..', '..', 'proto', 'brook', 'v1', 'records.proto'), {keepCase: true});
const RecordList = root.lookupType('brook.v1.RecordList');

// A stored batch of three records at base offset 100, its data "compressed" as one LZ4 frame of stored blocks
// (the frame format allows uncompressed blocks, and the decoder must read them too).
function storedLz4Batch() {
  const plain = Buffer.from(RecordList.encode({records: [
    {key: Buffer.from('k0'), value: Buffer.from('v0'), headers: [{key: 'n', value: Buffer.from('0')}]},
    {key: Buffer.from('k1'), value: Buffer.from('v1'), timestamp_ms: 5, headers: []},
    {key: Buffer.from('k2'), value: Buffer.from('v2'), headers: []}]}).finish());
  const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0]);  // magic, FLG, BD (64 KiB), HC
  const size = Buffer.alloc(4);
  size.writeUInt32LE((0x80000000 | plain.length) >>> 0);
  const data = Buffer.concat([header, size, plain, Buffer.alloc(4)]);
  return {base_offset: '100', record_count: 3, append_time_ms: '777', compression: 'COMPRESSION_LZ4', data,
    crc32c: crc32c(data), uncompressed_bytes: plain.length};
}

test('expandBatch rebuilds records from an offset', () => {
  const all = expandBatch(storedLz4Batch(), 0);
  assert.deepStrictEqual(all.map((r) => [r.offset, r.key.toString(), r.value.toString(), r.timestamp_ms]),
      [[100, 'k0', 'v0', 777], [101, 'k1', 'v1', 5], [102, 'k2', 'v2', 777]]);
  assert.strictEqual(all[0].headers[0].value.toString(), '0');
  assert.deepStrictEqual(expandBatch(storedLz4Batch(), 102).map((r) => r.offset), [102]);
});

test('expandBatch refuses damaged or inconsistent batches with DATA_LOSS', () => {
  const good = storedLz4Batch();
  const flipped = Buffer.from(good.data);
  flipped[12] ^= 1;
  for (const bad of [{...good, data: flipped}, {...good, crc32c: good.crc32c ^ 1}, {...good, record_count: 2},
    {...good, uncompressed_bytes: good.uncompressed_bytes - 1}]) {
    assert.throws(() => expandBatch(bad, 0), (e) => e.code === 15);
  }
});

test('xxHash32 has the known answers the LZ4 frame header needs', () => {
  assert.strictEqual(xxh32Short(Buffer.alloc(0)), 0x02cc5d05);
  // liblz4's default frame header 04 22 4d 18 64 40 carries the checksum byte a7.
  assert.strictEqual((xxh32Short(Buffer.from([0x64, 0x40])) >>> 8) & 0xff, 0xa7);
  assert.throws(() => xxh32Short(Buffer.alloc(16)), /fewer than 16/);
});

test('LZ4 frames written here decode to their input', () => {
  const random = crypto.randomBytes(200000);
  const inputs = [
    Buffer.alloc(0), Buffer.from('hello'), Buffer.from('abcdabcdabcda'), Buffer.from('abcdabcdabcdabcdabcd'),
    Buffer.alloc(1 << 20), random,
    Buffer.from(Array.from({length: 3000}, (_, i) => `{"order": ${i}, "status": "shipped"}`).join('')),
    Buffer.concat([random.subarray(0, 1000), crypto.randomBytes(70000), random.subarray(0, 1000)]),  // too far back
    Buffer.concat([Buffer.alloc(3 << 20, 7), crypto.randomBytes(2 << 20)]),  // two blocks, the second stored
  ];
  // Small alphabets: many short matches, lengths around the token's nibble of 15 and the end-of-block rules.
  for (let k = 0; k < 200; k++) {
    const n = Math.floor(Math.random() * 600);
    const letters = 1 + Math.floor(Math.random() * 4);
    inputs.push(Buffer.from(Array.from({length: n}, () => 97 + Math.floor(Math.random() * letters))));
  }
  for (const input of inputs) {
    const frame = compressLz4Frame(input);
    assert.strictEqual(frame.readUInt32LE(0), 0x184d2204);
    assert.ok(frame.length <= input.length + 19 + 4 * Math.ceil(input.length / (4 << 20)), 'never much larger');
    assert.ok(decodeLz4Frames(frame, input.length).equals(input), `input of ${input.length} bytes`);
  }
  // The declared block size is the smallest that holds the input (a decoder allocates that much per frame).
  for (const [length, code] of [[0, 4], [65536, 4], [65537, 5], [262144, 5], [262145, 6], [1 << 20, 6],
    [(1 << 20) + 1, 7], [5 << 20, 7]]) {
    assert.strictEqual(lz4BlockSizeCode(length), code, `${length} bytes`);
  }
  assert.strictEqual(compressLz4Frame(Buffer.from('hello'))[5], 0x40);
  assert.strictEqual(compressLz4Frame(inputs[8])[5], 0x70, '5 MiB: 4 MiB blocks');
  const json = inputs[6];
  assert.ok(compressLz4Frame(json).length * 4 < json.length, 'repetitive JSON shrinks');
});

test('compressBatch carries the records, their count and CRC-32C, and leaves a batch over 4 MiB plain', () => {
  const records = Array.from({length: 30}, (_, i) => ({key: Buffer.from(`k${i}`),
    value: Buffer.from(`{"order": ${i}, "status": "shipped"}`), headers: [{key: 'n', value: Buffer.from(`${i}`)}]}));
  records.push({key: Buffer.from('gone'), value: Buffer.alloc(0), tombstone: true, headers: []});
  const packed = compressBatch(records);
  assert.strictEqual(packed.fields.compression, 'COMPRESSION_LZ4');
  assert.strictEqual(packed.fields.record_count, 31);
  assert.strictEqual(packed.fields.compressed_crc32c, crc32c(packed.fields.compressed_records));
  const batch = {base_offset: '40', record_count: 31, append_time_ms: '777', compression: 'COMPRESSION_LZ4',
    data: packed.fields.compressed_records, crc32c: packed.fields.compressed_crc32c,
    uncompressed_bytes: packed.uncompressedBytes};
  const back = expandBatch(batch, 0);
  assert.deepStrictEqual(back.map((r) => [r.offset, r.key.toString(), r.value.toString()]),
      records.map((r, i) => [40 + i, r.key.toString(), r.value.toString()]));
  assert.strictEqual(back[3].headers[0].value.toString(), '3');
  assert.ok(back[30].tombstone);
  const big = {key: Buffer.from('k'), value: Buffer.alloc(1 << 20)};
  assert.notStrictEqual(compressBatch([big, big, big]), null);
  assert.strictEqual(compressBatch([big, big, big, big, big]), null, '5 MiB serialized is over the limit');
  assert.strictEqual(MAX_UNCOMPRESSED_BATCH_BYTES, 4 << 20);
});
