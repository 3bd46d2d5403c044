#!/usr/bin/env python3
"""Two members of one consumer group share a topic's partitions.

    brook topic create orders --partitions=4
    python3 group_example.py --bootstrap=127.0.0.1:7101 --topic=orders --group=billing --records=200

Writes half the records, starts member A (it gets every partition), then member B (the coordinator moves about
half of A's partitions to B: A commits them and gives them up first), writes the other half, and reads until
every record was seen. Both members then close (commit and leave), and a third member of the group must find
nothing left to read. Prints one JSON summary line; exits 1 if a record is missing or a check fails.
"""

import argparse
import json
import sys
import threading
import time

from brookclient import GroupConsumer, Producer


class Member(threading.Thread):
    """Polls one GroupConsumer on its own thread (a GroupConsumer is used by one thread) until told to stop."""

    def __init__(self, name, make_consumer, seen, lock):
        super().__init__(name=name, daemon=True)
        self.events = []   # ("assign" | "revoke" | "lost", [(topic, partition)])
        self.read = 0
        self.error = None
        self._seen, self._lock = seen, lock
        self._stop_event = threading.Event()
        self.consumer = make_consumer(on_assign=lambda ps: self.events.append(("assign", ps)),
                                      on_revoke=lambda ps: self.events.append(("revoke", ps)),
                                      on_lost=lambda ps: self.events.append(("lost", ps)))

    def run(self):
        try:
            while not self._stop_event.is_set():
                for rec in self.consumer.poll(timeout_s=0.5):
                    with self._lock:
                        self._seen.setdefault(rec.value, []).append((self.name, rec.partition, rec.offset))
                    self.read += 1
            self.consumer.close()
        except Exception as e:  # reported by main()
            self.error = e

    def assignment(self):
        return self.consumer.assignment()

    def stop(self):
        self._stop_event.set()
        self.join(timeout=30)


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"group_example: timed out waiting until {what}")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")
    ap.add_argument("--topic", default="orders")
    ap.add_argument("--group", default="group-example")
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    args = ap.parse_args()

    producer = Producer(args.bootstrap)
    partitions = producer.topic(args.topic).partition_count
    values = [f"{args.group}-record-{i}".encode() for i in range(args.records)]
    half = len(values) // 2
    for i, v in enumerate(values[:half]):
        producer.send(args.topic, v, key=f"key-{i}".encode())

    seen, lock = {}, threading.Lock()

    def make(**callbacks):
        return GroupConsumer(args.bootstrap, args.group, [args.topic], session_timeout_ms=args.session_timeout_ms,
                             auto_commit_interval_s=1.0, **callbacks)

    a = Member("A", make, seen, lock)
    a.start()
    wait_for(lambda: len(a.assignment()) == partitions or a.error, 30, "member A owns every partition")
    b = Member("B", make, seen, lock)
    b.start()
    wait_for(lambda: (a.assignment() and b.assignment()
                      and len(a.assignment()) + len(b.assignment()) == partitions) or a.error or b.error,
             30, "the partitions are shared between A and B")
    shared = {"A": sorted(a.assignment()), "B": sorted(b.assignment())}
    for i, v in enumerate(values[half:], start=half):
        producer.send(args.topic, v, key=f"key-{i}".encode())
    wait_for(lambda: all(v in seen for v in values) or a.error or b.error, 30, "every record was read")
    a.stop()
    b.stop()
    for m in (a, b):
        if m.error is not None:
            print(f"group_example: member {m.name} failed: {m.error!r}", file=sys.stderr)
            return 1

    # Both members committed on close: a new member of the group starts where they stopped.
    late = GroupConsumer(args.bootstrap, args.group, [args.topic], session_timeout_ms=args.session_timeout_ms)
    leftover, deadline = [], time.monotonic() + 30
    while len(late.positions()) < partitions:
        if time.monotonic() > deadline:
            raise SystemExit("group_example: timed out waiting until the late member owns every partition")
        leftover += late.poll(timeout_s=0.2)
    leftover += late.poll(timeout_s=0.5)
    late.close()
    producer.close()

    missing = [v.decode() for v in values if v not in seen]
    duplicates = sum(len(seen[v]) - 1 for v in values if v in seen)
    summary = {"records": len(values), "read": sum(v in seen for v in values), "missing": len(missing), "duplicates": duplicates,
               "read_by": {"A": a.read, "B": b.read}, "shared": shared,
               "events": {"A": [e for e, _ in a.events], "B": [e for e, _ in b.events]},
               "left_for_late_member": len(leftover)}
    print(json.dumps(summary))
    problems = []
    if missing:
        problems.append(f"{len(missing)} records never read, e.g. {missing[:3]}")
    if set(shared["A"]) & set(shared["B"]):
        problems.append(f"a partition owned by both members: {shared}")
    if "revoke" not in summary["events"]["A"]:
        problems.append("member A never gave a partition up to B")
    if leftover:
        problems.append(f"the late member read {len(leftover)} records: the commits on close were lost")
    for p in problems:
        print(f"group_example: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
