#!/usr/bin/env python3
"""Produces --count records to --topic and reads the topic back, with TLS and the token from the environment
(BROOK_TLS_CA, BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN: the clients' defaults), for
client/tests/packages_integration_test.cc. With --whoami it first asks brook.v1.Access.WhoAmI.

Prints one JSON line: {"produced": N, "read": M, "principal": ..., "method": ...} and exits 0; or
{"error": "...", "code": "UNAVAILABLE"} and exits 1 for a BrookError, 2 for a bad option (ValueError).
"""
import argparse
import json
import sys

import brookclient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--whoami", action="store_true")
    args = ap.parse_args()
    out = {}
    try:
        producer = brookclient.Producer(args.bootstrap, timeout_s=10.0, delivery_timeout_s=10.0)
        if args.whoami:
            me = producer.who_am_i()
            out["principal"] = me.principal
            out["method"] = brookclient.access_pb2.WhoAmIResponse.Method.Name(me.method)
        for i in range(args.count):
            producer.send(args.topic, f"py record {i}".encode(), key=f"py-{i}".encode())
        out["produced"] = args.count
        producer.close()
        consumer = brookclient.Consumer(args.bootstrap, args.topic, timeout_s=10.0)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets()
        read = 0
        for _ in range(50):
            if all(consumer.positions[p] >= ends[p] for p in ends):
                break
            read += sum(1 for r in consumer.poll(timeout_s=0.2) if r.value.startswith(b"py record "))
        out["read"] = read
        consumer.close()
    except brookclient.BrookError as e:
        print(json.dumps({"error": str(e), "code": e.code.name, **out}), flush=True)
        return 1
    except ValueError as e:
        print(json.dumps({"error": str(e), "code": "INVALID_ARGUMENT"}), flush=True)
        return 2
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
