#!/usr/bin/env python3
"""Tombstone check run by client/tests/interop_integration_test.cc against a live cluster.

Writes one record for --key and then a tombstone for it (Producer.send_tombstone) to --topic, a compacted topic,
reads the whole topic back with the Consumer and prints, for each record of --key, a JSON line
{"offset": O, "value": "V", "tombstone": true|false}. Exit 0 on success; 1 with a message on stderr otherwise.
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
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    key = args.key.encode()

    producer = brookclient.Producer(args.bootstrap)
    producer.send(args.topic, b"alive", key=key)
    producer.send_tombstone(args.topic, key)
    producer.close()

    consumer = brookclient.Consumer(args.bootstrap, args.topic)
    consumer.seek_to_beginning()
    end = consumer.end_offsets()
    deadline = time.monotonic() + 30
    while any(consumer.positions[p] < end[p] for p in end) and time.monotonic() < deadline:
        for r in consumer.poll(timeout_s=0.5):
            if r.key == key:
                print(json.dumps({"offset": r.offset, "value": r.value.decode(), "tombstone": r.tombstone}))
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
