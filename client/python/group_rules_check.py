#!/usr/bin/env python3
"""The Python group consumer's protocol handling against a live cluster (run by client_packages_integration_test):

- a commit for a partition another member owns is refused with NOT_OWNER and changes nothing;
- a static member replaced by a new instance with its instance_id is out of the group: its commit raises
  MemberLost (UNKNOWN_MEMBER or FENCED_MEMBER_EPOCH), it drops its partitions (on_lost) and joins again;
- a member that heard nothing for its session drops its partitions itself (on_lost) and joins again;
- a partition without a coordinator offset starts at the older per-partition store's offset (FetchOffsets);
- a leave answered UNKNOWN_MEMBER (a resent leave whose first attempt worked) counts as left;
- against an in-process fake coordinator: GROUP_FULL (RESOURCE_EXHAUSTED + GroupError) is raised by poll() after
  one Heartbeat, not resent; a join that timed out (DEADLINE_EXCEEDED) is not resent within the poll; every
  heartbeat carries session_timeout_ms and rebalance_timeout_ms.

    group_rules_check.py --bootstrap=HOST:PORT --topic=T   (T exists, 4 partitions, at least 10 records each)

Prints "ok <check>" per check; exits 1 at the first failure.
"""

import argparse
import contextlib
import io
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2

import brookclient
from brookclient import BrookError, GroupConsumer
from brookgroup import MemberLost
from brook.v1 import errors_pb2, groups_pb2, groups_pb2_grpc


def fail(why):
    print(f"group_rules_check: FAILED: {why}", file=sys.stderr)
    sys.exit(1)


def poll_until(consumers, condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            fail(f"timed out waiting until {what}; assignments "
                 f"{[sorted(c.assignment()) for c in consumers]}")
        for c in consumers:
            c.poll(timeout_s=0.05)


def member(args, group, lost=None, **kw):
    return GroupConsumer(args.bootstrap, group, [args.topic], auto_commit=False,
                         on_lost=(lambda ps: lost.append(ps)) if lost is not None else None, **kw)


def not_owner_commit_is_refused(args):
    x, y = member(args, "rules-owner"), member(args, "rules-owner")
    poll_until([x, y], lambda: len(x.assignment()) == 2 and len(y.assignment()) == 2, 30,
               "two members share four partitions")
    theirs = sorted(y.assignment())[0]
    try:
        x.commit_offsets({theirs: 1})
        fail(f"a commit for {theirs}, owned by the other member, was accepted")
    except MemberLost as e:
        fail(f"a commit for another member's partition made the member leave: {e}")
    except BrookError as e:
        if e.group_reason != "NOT_OWNER":
            fail(f"expected NOT_OWNER, got {e.group_reason}: {e}")
    if len(x.assignment()) != 2:
        fail("a refused commit changed the member's partitions")
    mine = sorted(x.assignment())[0]
    x.commit_offsets({mine: 1})  # its own partition: accepted
    x.close()
    y.close()
    print("ok not_owner_commit_is_refused")


def replaced_static_member_is_out(args):
    lost = []
    old = member(args, "rules-static", lost, instance_id="instance-1")
    poll_until([old], lambda: len(old.positions()) == 4, 30, "the static member owns every partition")
    new = member(args, "rules-static", instance_id="instance-1")
    poll_until([new], lambda: len(new.positions()) == 4, 30, "the new instance took the partitions over")
    try:
        old.commit_offsets({sorted(new.assignment())[0]: 2})
        fail("the replaced instance's commit was accepted")
    except MemberLost as e:
        if e.group_reason not in ("UNKNOWN_MEMBER", "FENCED_MEMBER_EPOCH"):
            fail(f"expected UNKNOWN_MEMBER or FENCED_MEMBER_EPOCH, got {e.group_reason}")
    if old.assignment() or len(lost) != 1 or len(lost[0]) != 4:
        fail(f"the replaced instance kept {sorted(old.assignment())}; on_lost got {lost}")
    old.close()  # it joins no more: epoch 0, nothing to leave
    new.close()
    print("ok replaced_static_member_is_out")


def silent_member_drops_its_partitions(args):
    lost = []
    m = member(args, "rules-session", lost, session_timeout_ms=2000)
    poll_until([m], lambda: len(m.positions()) == 4, 30, "the member owns every partition")
    first_id = m.member_id
    time.sleep(2.5)  # no heartbeat for longer than the session
    poll_until([m], lambda: lost and len(m.positions()) == 4, 30, "the member lost and got its partitions back")
    if len(lost[0]) != 4 or m.member_id == first_id:
        fail(f"on_lost got {lost}; member id {first_id} -> {m.member_id}")
    m.close()
    print("ok silent_member_drops_its_partitions")


def starts_at_partition_store_offset(args):
    group = "rules-legacy"
    client = brookclient._Client(args.bootstrap)
    req = groups_pb2.CommitOffsetsRequest(group=group, topic=args.topic,
                                          offsets=[groups_pb2.PartitionOffset(partition=1, offset=7)])
    client.call_leader(args.topic, 1, lambda ch: groups_pb2_grpc.ConsumerGroupsStub(ch).CommitOffsets(req, timeout=5))
    starts = {}  # the positions when the member got its partitions, before it read anything
    m = member(args, group, on_assign=lambda ps: starts.update({tp: m.positions()[tp] for tp in ps}))
    poll_until([m], lambda: len(starts) == 4, 30, "the member owns every partition")
    positions = starts
    if positions[(args.topic, 1)] != 7:
        fail(f"partition 1 starts at {positions[(args.topic, 1)]}, not at the partition store's offset 7")
    if positions[(args.topic, 0)] != 0:
        fail(f"partition 0 (no offset anywhere) starts at {positions[(args.topic, 0)]}, not at earliest (0)")
    m.close()
    client.close()
    print("ok starts_at_partition_store_offset")


def leave_answered_unknown_member_is_success(args):
    m = member(args, "rules-leave")
    poll_until([m], lambda: len(m.positions()) == 4, 30, "the member owns every partition")
    # Another party makes the member leave first: close()'s own leave is then answered UNKNOWN_MEMBER, just as a
    # resent leave whose first attempt worked.
    leave = groups_pb2.HeartbeatRequest(group="rules-leave", member_id=m.member_id, member_epoch=-1)
    m._coordinator_call("Heartbeat", leave, 5.0)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        m.close()
    if "leave failed" in err.getvalue():
        fail(f"a leave answered UNKNOWN_MEMBER was reported as a failure: {err.getvalue().strip()}")
    print("ok leave_answered_unknown_member_is_success")


class FakeCoordinator(groups_pb2_grpc.ConsumerGroupsServicer):
    """Answers every Heartbeat with the scripted (code, GroupError or None); remembers the requests."""

    def __init__(self, code, group_error=None):
        self.code, self.group_error = code, group_error
        self.lock = threading.Lock()
        self.requests = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        groups_pb2_grpc.add_ConsumerGroupsServicer_to_server(self, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def Heartbeat(self, request, context):
        with self.lock:
            self.requests.append(request)
        if self.group_error is not None:
            a = any_pb2.Any()
            a.Pack(self.group_error)
            status = errors_pb2.ErrorStatus(code=self.code.value[0], message="scripted", details=[a])
            context.set_trailing_metadata([("grpc-status-details-bin", status.SerializeToString())])
        context.abort(self.code, "scripted")


def refusals_from_a_fake_coordinator(args):
    full = FakeCoordinator(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           groups_pb2.GroupError(reason=groups_pb2.GroupError.GROUP_FULL, group="g"))
    c = GroupConsumer(full.address, "g", ["t"], session_timeout_ms=12000, rebalance_timeout_ms=30000)
    try:
        c.poll(timeout_s=0.5)
        fail("poll() returned although the coordinator answered GROUP_FULL")
    except BrookError as e:
        if e.group_reason != "GROUP_FULL" or e.code != grpc.StatusCode.RESOURCE_EXHAUSTED:
            fail(f"expected RESOURCE_EXHAUSTED + GROUP_FULL, got {e.group_reason}: {e}")
    if len(full.requests) != 1:
        fail(f"GROUP_FULL was resent: {len(full.requests)} Heartbeats")
    r = full.requests[0]
    if (r.member_epoch, r.session_timeout_ms, r.rebalance_timeout_ms) != (0, 12000, 30000):
        fail(f"the join carried epoch {r.member_epoch}, timeouts {r.session_timeout_ms}/{r.rebalance_timeout_ms}")
    c.close()
    full.server.stop(None)

    lost = FakeCoordinator(grpc.StatusCode.DEADLINE_EXCEEDED)
    c = GroupConsumer(lost.address, "g", ["t"])
    if c.poll(timeout_s=0.5) != []:
        fail("records without a member")
    if len(lost.requests) != 1:
        fail(f"a join answered DEADLINE_EXCEEDED was resent at once: {len(lost.requests)} Heartbeats")
    c.close()
    lost.server.stop(None)

    # A member (epoch > 0) heartbeats with its timeouts too; it may resend a lost heartbeat.
    beat = FakeCoordinator(grpc.StatusCode.UNAVAILABLE)
    c = GroupConsumer(beat.address, "g", ["t"], session_timeout_ms=12000, rebalance_timeout_ms=30000,
                      request_timeout_s=0.3)
    c.member_id, c.member_epoch, c._lease_end = "m", 3, time.monotonic() + 12
    c.poll(timeout_s=0.2)
    if not beat.requests or any((r.member_epoch, r.session_timeout_ms, r.rebalance_timeout_ms) != (3, 12000, 30000)
                                for r in beat.requests):
        fail(f"heartbeats without the timeouts: {[str(r) for r in beat.requests]}")
    c.member_epoch = 0  # nothing to leave
    c.close()
    beat.server.stop(None)
    print("ok refusals_from_a_fake_coordinator")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()
    not_owner_commit_is_refused(args)
    replaced_static_member_is_out(args)
    silent_member_drops_its_partitions(args)
    starts_at_partition_store_offset(args)
    leave_answered_unknown_member_is_success(args)
    refusals_from_a_fake_coordinator(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
