#!/usr/bin/python3
"""Reading compressed batches in Python (brookclient.expand_batch): CRC-32C, LZ4 and Zstandard frames (several in
a row too), records from an offset, and DATA_LOSS for a damaged or inconsistent batch, never decoding past the
batch's stated size.

Run: /usr/bin/python3 client/python/compression_test.py (ctest: client_python_compression_test, label unit).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brookclient  # noqa: E402
import grpc  # noqa: E402
import lz4.frame  # noqa: E402
import zstandard  # noqa: E402
from brook.v1 import records_pb2  # noqa: E402


def record_list(count):
    out = records_pb2.RecordList()
    for i in range(count):
        r = out.records.add(key=b"k%d" % i, value=b'{"order": %d, "status": "shipped"}' % i)
        if i == 1:
            r.timestamp_ms = 5
        r.headers.add(key="n", value=b"%d" % i)
    return out.SerializeToString()


def batch(compression, data, plain, count, base=100):
    return records_pb2.CompressedBatch(base_offset=base, record_count=count, append_time_ms=777,
                                       compression=compression, data=data, crc32c=brookclient.crc32c(data),
                                       uncompressed_bytes=len(plain))


CODECS = {
    records_pb2.COMPRESSION_LZ4: lambda b: lz4.frame.compress(b, store_size=True),
    records_pb2.COMPRESSION_ZSTD: lambda b: zstandard.ZstdCompressor().compress(b),
}


class CompressionTest(unittest.TestCase):
    def test_crc32c_known_answer_native_and_portable(self):
        self.assertEqual(brookclient.crc32c_portable(b"123456789"), 0xE3069283)
        self.assertEqual(brookclient.crc32c(b"123456789"), 0xE3069283)
        data = os.urandom(5000)
        self.assertEqual(brookclient.crc32c(data), brookclient.crc32c_portable(data))

    def test_expand_batch_rebuilds_records_from_an_offset(self):
        self.assertTrue(brookclient.CAN_DECOMPRESS)
        plain = record_list(5)
        for codec, compress in CODECS.items():
            records = brookclient.expand_batch(batch(codec, compress(plain), plain, 5), 0)
            self.assertEqual([r.offset for r in records], [100, 101, 102, 103, 104])
            self.assertEqual(records[2].key, b"k2")
            self.assertEqual(records[2].headers[0].value, b"2")
            self.assertEqual([r.timestamp_ms for r in records[:3]], [777, 5, 777], "unset timestamps: append time")
            tail = brookclient.expand_batch(batch(codec, compress(plain), plain, 5), 103)
            self.assertEqual([r.offset for r in tail], [103, 104], "a batch served from its middle")

    def test_compress_batch_round_trips_through_expand_batch(self):
        records = records_pb2.RecordList.FromString(record_list(7)).records
        for codec in brookclient.COMPRESSION_CODECS:
            packed = brookclient.compress_batch(codec, records)
            self.assertEqual(packed["record_count"], 7)
            self.assertEqual(packed["compressed_crc32c"], brookclient.crc32c(packed["compressed_records"]))
            plain = record_list(7)
            self.assertEqual(packed["_uncompressed_bytes"], len(plain))
            b = records_pb2.CompressedBatch(base_offset=10, record_count=7, append_time_ms=777,
                                            compression=packed["compression"], data=packed["compressed_records"],
                                            crc32c=packed["compressed_crc32c"], uncompressed_bytes=len(plain))
            got = brookclient.expand_batch(b, 0)
            self.assertEqual([(r.offset, r.key, r.value) for r in got],
                             [(10 + i, r.key, r.value) for i, r in enumerate(records)], codec)

    def test_a_batch_over_the_servers_limit_is_not_compressed(self):
        big = records_pb2.Record(key=b"k", value=bytes(1 << 20))
        self.assertIsNotNone(brookclient.compress_batch("zstd", [big] * 3))
        self.assertIsNone(brookclient.compress_batch("zstd", [big] * 5), "5 MiB serialized: over 4 MiB")

    def test_several_frames_decode(self):
        plain = record_list(6)
        half = len(plain) // 2
        for codec, compress in CODECS.items():
            data = compress(plain[:half]) + compress(plain[half:])
            self.assertEqual(len(brookclient.expand_batch(batch(codec, data, plain, 6), 0)), 6)

    def test_damaged_or_inconsistent_batches_are_data_loss(self):
        plain = record_list(4)
        for codec, compress in CODECS.items():
            good = batch(codec, compress(plain), plain, 4)
            flipped = bytearray(good.data)
            flipped[len(flipped) // 2] ^= 1
            bad = [records_pb2.CompressedBatch(), records_pb2.CompressedBatch(), records_pb2.CompressedBatch(),
                   records_pb2.CompressedBatch()]
            for b in bad:
                b.CopyFrom(good)
            bad[0].data = bytes(flipped)
            bad[1].crc32c ^= 1
            bad[2].record_count = 3
            bad[3].uncompressed_bytes -= 1
            for i, b in enumerate(bad):
                with self.assertRaises(brookclient.BrookError, msg=f"case {i}") as e:
                    brookclient.expand_batch(b, 0)
                self.assertEqual(e.exception.code, grpc.StatusCode.DATA_LOSS)

    def test_a_bomb_stops_at_the_stated_size(self):
        zeros = bytes(64 << 20)
        for codec, compress in CODECS.items():
            data = compress(zeros)
            b = records_pb2.CompressedBatch(base_offset=0, record_count=1, compression=codec, data=data,
                                            crc32c=brookclient.crc32c(data), uncompressed_bytes=1000)
            with self.assertRaises(brookclient.BrookError) as e:
                brookclient.expand_batch(b, 0)
            self.assertEqual(e.exception.code, grpc.StatusCode.DATA_LOSS)


if __name__ == "__main__":
    unittest.main()
