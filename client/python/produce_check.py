#!/usr/bin/env python3
"""Produces --count distinct records one send at a time and prints every send's outcome, for
client/tests/lost_answers_integration_test.cc (which reads the partitions back and checks that each record is
where its send said, exactly once).

Record i has key "<prefix>-i" and value "<prefix> record i". Each line of stdout is one
JSON object: {"key", "value", "partition", "offset"} for a send that succeeded, {"key", "value", "error"} for one
that raised (the run goes on, as an application would). Exit 0 when every send succeeded, 1 otherwise.
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
    ap.add_argument("--prefix", default="py")
    ap.add_argument("--delivery-timeout-s", type=float, help="default: the Producer's")
    ap.add_argument("--request-timeout-s", type=float, help="default: the Producer's")
    args = ap.parse_args()

    timeouts = {k: v for k, v in (("delivery_timeout_s", args.delivery_timeout_s),
                                  ("request_timeout_s", args.request_timeout_s)) if v is not None}
    producer = brookclient.Producer(args.bootstrap, **timeouts)
    failed = 0
    for i in range(args.count):
        key, value = f"{args.prefix}-{i}", f"{args.prefix} record {i}"
        line = {"key": key, "value": value}
        try:
            line["partition"], line["offset"] = producer.send(args.topic, value.encode(), key=key.encode())
        except brookclient.BrookError as e:
            line["error"] = str(e)
            failed += 1
        print(json.dumps(line), flush=True)
    producer.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
