#!/usr/bin/python3
"""Batched produce throughput of the Python client with each codec (none, lz4, zstd), interleaved in rounds, on
JSON-like records: records/s, MB/s of values, and the compression ratio. Needs a running cluster and
a topic (docs/performance.md "Compression in the Python and Node.js producers").

    /usr/bin/python3 client/python/bench_produce.py --bootstrap=127.0.0.1:7101 --topic=pybench
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brookclient  # noqa: E402


def value(i):
    return (b'{"order_id": %d, "customer": "user-%d", "status": "shipped", "items": [{"sku": "mouse-01", "qty": 1}, '
            b'{"sku": "cable-usb-c", "qty": 2}], "address": "221B Baker Street, London", "note": "leave at the door"}'
            % (i, i % 1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partition", type=int, default=0)
    ap.add_argument("--batches", type=int, default=100, help="batches per codec and round (1-100000)")
    ap.add_argument("--per-batch", type=int, default=500, help="records per batch (1-100000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (1-100)")
    args = ap.parse_args()
    if not (1 <= args.batches <= 100000 and 1 <= args.per_batch <= 100000 and 1 <= args.rounds <= 100):
        ap.error("--batches, --per-batch and --rounds out of range")
    rates = {}
    for rnd in range(args.rounds):
        for codec in (None, "lz4", "zstd"):
            p = brookclient.Producer(args.bootstrap, compression=codec)
            start = time.monotonic()
            value_bytes = 0
            for b in range(args.batches):
                base = b * args.per_batch
                records = [(b"k%d" % i, value(base + i)) for i in range(args.per_batch)]
                value_bytes += sum(len(r[1]) for r in records)
                p.send_batch(args.topic, args.partition, records)
            took = time.monotonic() - start
            rate = args.batches * args.per_batch / took
            rates.setdefault(codec or "none", []).append(rate)
            ratio = p.uncompressed_bytes / p.sent_bytes if codec else 1.0  # sizes are counted only when compressing
            print(f"round {rnd} {codec or 'none':5} {rate:9.0f} records/s {value_bytes / took / 1e6:6.1f} MB/s of values "
                  f"ratio {ratio:.2f}")
            p.close()
    base = statistics.median(rates["none"])
    for codec, r in rates.items():
        print(f"median {codec:5} {statistics.median(r):9.0f} records/s  {statistics.median(r) / base:.2f}x none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
