#!/usr/bin/python3
"""Reads a topic back from every node of a cluster, each node on its own, and checks it against what producers
were acknowledged: nothing lost, nothing doubled, the same offsets on every node. Part of deploy_test.sh.

    read_back.py --nodes=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --topic=NAME \
                 --produced=INPUT:ACKS [--produced=INPUT:ACKS ...] [--timeout-s=60]

INPUT holds the lines given to `brook produce --key-separator=:` (KEY:VALUE) and ACKS its `--output=json` answer,
which lists the (partition, offset) of every record in input order. Every node is asked directly (Fetch is served
by any replica; `served_by` must name the node asked). The check waits, up to --timeout-s, until every node's
high watermark of every partition is the same and covers every acknowledged offset (a restarted node may still be
catching up), then reads every partition up to it and requires:
  - each node's partition holds exactly the offsets 0 .. high watermark - 1, once each;
  - every node returns the same records (offset, key, value) in every partition;
  - every acknowledged record is at its acknowledged partition and offset, and nothing else is in the topic.
Exit 0 when all hold; 1 with the first difference otherwise.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client", "python"))
import brookclient  # noqa: E402

brookclient.ensure_stubs()  # generates the brook.v1 stubs (once) and puts them on sys.path
import grpc  # noqa: E402
from brook.v1 import admin_pb2, admin_pb2_grpc, log_pb2, log_pb2_grpc  # noqa: E402


def fail(message):
    print(f"read_back: FAIL: {message}", flush=True)
    sys.exit(1)


def expected_records(produced):
    """{(partition, offset): (key, value)} from pairs of INPUT:ACKS files."""
    out = {}
    for pair in produced:
        input_path, acks_path = pair.split(":", 1)
        with open(input_path, "rb") as f:
            lines = f.read().splitlines()
        with open(acks_path) as f:
            acks = json.load(f)
        if acks["failed"] != 0 or len(acks["offsets"]) != len(lines):
            fail(f"{acks_path}: {acks['failed']} failed, {len(acks['offsets'])} acknowledged of {len(lines)} sent")
        for line, ack in zip(lines, acks["offsets"]):
            key, value = line.split(b":", 1)
            where = (ack["partition"], ack["offset"])
            if where in out:
                fail(f"two records were acknowledged at partition {where[0]} offset {where[1]}")
            out[where] = (key, value)
    return out


def high_watermarks(stub, topic, partitions):
    out = []
    for p in range(partitions):
        req = log_pb2.ListOffsetsRequest(topic=topic, partition=p, spec=log_pb2.ListOffsetsRequest.LATEST)
        out.append(stub.ListOffsets(req, timeout=5).offset)
    return out


def read_partition(stub, node_id, topic, partition, end):
    """[(offset, key, value)] of offsets [0, end) as this node serves them."""
    records, offset = [], 0
    while offset < end:
        resp = stub.Fetch(log_pb2.FetchRequest(topic=topic, partition=partition, offset=offset), timeout=10)
        if resp.served_by != node_id:
            fail(f"Fetch sent to node {node_id} was served by node {resp.served_by}")
        if resp.HasField("gap"):
            fail(f"node {node_id} partition {partition}: gap {resp.gap.start_offset}..{resp.gap.end_offset}")
        if not resp.records:
            fail(f"node {node_id} partition {partition}: no record at offset {offset} below {end}")
        for r in resp.records:
            records.append((r.offset, r.key, r.value))
        offset = resp.next_offset
    return [r for r in records if r[0] < end]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--produced", action="append", required=True)
    parser.add_argument("--timeout-s", type=float, default=60)
    args = parser.parse_args()

    nodes = {}
    for item in args.nodes.split(","):
        node_id, address = item.split("=", 1)
        nodes[int(node_id)] = address
    expected = expected_records(args.produced)
    stubs = {n: log_pb2_grpc.LogStub(grpc.insecure_channel(a)) for n, a in nodes.items()}
    first = next(iter(nodes.values()))
    meta = admin_pb2_grpc.AdminStub(grpc.insecure_channel(first)).GetMetadata(
        admin_pb2.GetMetadataRequest(topics=[args.topic]), timeout=5)
    partitions = meta.topics[0].partition_count

    # Every node's high watermarks, once they agree and cover every acknowledged record.
    acknowledged_end = [0] * partitions
    for (p, offset) in expected:
        acknowledged_end[p] = max(acknowledged_end[p], offset + 1)
    deadline = time.monotonic() + args.timeout_s
    while True:
        seen = {}
        for n, stub in stubs.items():
            try:
                seen[n] = high_watermarks(stub, args.topic, partitions)
            except grpc.RpcError as e:
                seen[n] = f"{e.code().name}: {e.details()}"
        want = seen[next(iter(stubs))]
        if isinstance(want, list) and all(hw == want for hw in seen.values()) and \
                all(w >= a for w, a in zip(want, acknowledged_end)):
            break
        if time.monotonic() >= deadline:
            fail(f"high watermarks per node {seen} did not agree and reach {acknowledged_end} in "
                 f"{args.timeout_s:.0f} s")
        time.sleep(0.5)

    reference = None
    for n, stub in stubs.items():
        log = {p: read_partition(stub, n, args.topic, p, want[p]) for p in range(partitions)}
        for p, records in log.items():
            offsets = [r[0] for r in records]
            if offsets != list(range(want[p])):
                fail(f"node {n} partition {p}: offsets are not exactly 0..{want[p] - 1}")
            for offset, key, value in records:
                if expected.get((p, offset)) != (key, value):
                    fail(f"node {n} partition {p} offset {offset}: holds {key!r}:{value!r}, "
                         f"acknowledged there: {expected.get((p, offset))!r}")
        if reference is None:
            reference = log
        elif log != reference:
            fail(f"node {n} returns other records than node {next(iter(stubs))}")
        print(f"read_back: node {n}: {sum(len(r) for r in log.values())} records, per partition "
              f"{[len(log[p]) for p in range(partitions)]}", flush=True)
    if sum(want) != len(expected):
        fail(f"the topic holds {sum(want)} records; {len(expected)} were acknowledged")
    print(f"read_back: OK: {len(expected)} acknowledged records, each once, at the same offsets on "
          f"{len(nodes)} nodes", flush=True)


if __name__ == "__main__":
    main()
