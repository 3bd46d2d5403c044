#!/usr/bin/env python3
"""Interop check run by client/tests/interop_integration_test.cc against a live cluster.

1. Reads every partition of --topic from the beginning and compares with --expect (JSON lines of
   {"partition", "offset", "key", "value", "header"} written by the C++ producer): same offsets, keys, values, and
   one header ("n", header).
2. Produces --produce-count records keyed "py-<i>" with the header ("n", "py-header-<i>") and prints each as a
   JSON line {"partition", "offset", "key", "value", "header"} on stdout, for the C++ side to find.
Exit 0 on success; 1 with a message on stderr otherwise.

Reading options (client/tests/compression_integration_test.cc): --from-offset=N starts every partition at N (records
below N must not come back, expectations below N are not checked), --exact fails on records not in --expect, and
--require-compressed fails unless the consumer decoded at least one compressed batch itself.
Producing option: --compression=lz4|zstd sends the --produce-count records as one compressed batch per partition
(send_batch) instead of one send each, and fails unless every batch went compressed.
"""
import argparse
import json
import sys
import time

import brookclient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--produce-count", type=int, default=5)
    ap.add_argument("--from-offset", type=int, default=0)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--require-compressed", action="store_true")
    ap.add_argument("--compression", choices=brookclient.COMPRESSION_CODECS)
    args = ap.parse_args()

    expected = {}
    with open(args.expect) as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                if e["offset"] >= args.from_offset:
                    expected[(e["partition"], e["offset"])] = (e["key"].encode(), e["value"].encode(),
                                                               [("n", e["header"].encode())])

    consumer = brookclient.Consumer(args.bootstrap, args.topic)
    consumer.seek_to_beginning()
    for p in consumer.positions:
        consumer.positions[p] = max(consumer.positions[p], args.from_offset)
    end = consumer.end_offsets()
    seen = {}
    deadline = time.monotonic() + 30
    while any(consumer.positions[p] < end[p] for p in end) and time.monotonic() < deadline:
        for r in consumer.poll(timeout_s=0.5):
            if (r.partition, r.offset) in seen or r.offset < args.from_offset:
                print(f"partition {r.partition} offset {r.offset} read twice or below --from-offset", file=sys.stderr)
                return 1
            seen[(r.partition, r.offset)] = (r.key, r.value, r.headers)
    for k, v in expected.items():
        if seen.get(k) != v:
            print(f"partition {k[0]} offset {k[1]}: expected {v}, read {seen.get(k)}", file=sys.stderr)
            return 1
    if args.exact and set(seen) != set(expected):
        print(f"read records nobody expected: {sorted(set(seen) - set(expected))}", file=sys.stderr)
        return 1
    if args.require_compressed and consumer.compressed_batches_read == 0:
        print(f"no compressed batch was decoded by the client (CAN_DECOMPRESS={brookclient.CAN_DECOMPRESS})",
              file=sys.stderr)
        return 1
    print(f"read {len(seen)} records, {consumer.compressed_batches_read} compressed batches", file=sys.stderr)

    producer = brookclient.Producer(args.bootstrap, compression=args.compression)
    if args.compression:
        # One compressed batch per partition, the records of each in key order.
        count = consumer.topic(args.topic).partition_count
        batches = {}
        for i in range(args.produce_count):
            key = f"py-{i}".encode()
            batches.setdefault(brookclient.fnv1a32(key) % count, []).append(i)
        for partition, numbers in sorted(batches.items()):
            records = [(f"py-{i}".encode(), f"from python {i}".encode(), [("n", f"py-header-{i}".encode())])
                       for i in numbers]
            base = producer.send_batch(args.topic, partition, records)
            for k, i in enumerate(numbers):
                print(json.dumps({"partition": partition, "offset": base + k, "key": f"py-{i}",
                                  "value": f"from python {i}", "header": f"py-header-{i}"}))
        if producer.compressed_batches != len(batches):
            print(f"{producer.compressed_batches} of {len(batches)} batches went compressed", file=sys.stderr)
            return 1
    for i in range(0 if args.compression else args.produce_count):
        key = f"py-{i}".encode()
        value = f"from python {i}".encode()
        header = f"py-header-{i}"
        partition, offset = producer.send(args.topic, value, key=key, headers=[("n", header.encode())])
        if partition != brookclient.fnv1a32(key) % consumer.topic(args.topic).partition_count:
            print("partitioner mismatch", file=sys.stderr)
            return 1
        print(json.dumps({"partition": partition, "offset": offset, "key": key.decode(), "value": value.decode(),
                          "header": header}))
    producer.close()
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
