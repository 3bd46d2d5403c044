"""A consumer-group member for Python: the coordinator hands out partitions, this reads them and commits offsets.

    from brookclient import GroupConsumer
    c = GroupConsumer("127.0.0.1:7101", "billing", ["orders"])
    while running:
        for rec in c.poll(timeout_s=1.0):
            print(rec.topic, rec.partition, rec.offset, rec.key, rec.value)
    c.close()   # commits, then leaves the group so its partitions move at once

The protocol (docs/api.md "Consumer groups", proto/brook/v1/groups.proto): the group's coordinator is the leader of
partition fnv1a32(group) % 8 of the internal topic __consumer_groups. A member joins with Heartbeat(member_epoch=0)
and heartbeats at least every heartbeat_interval_ms with every partition it still holds; the answer says what it
owns now (`assignment`) and what it must give up (`revoking`: commit, stop reading, heartbeat without them).
Commits carry the member id and epoch and are fenced by the coordinator.

Threading: one thread uses a GroupConsumer. Every call (heartbeats and the callbacks included) runs on the thread
that calls poll(), commit() or close(); nothing runs in the background, so the application must call poll() at
least every heartbeat interval (a third of session_timeout_ms) or the coordinator takes its partitions away.
"""

import sys
import time

import grpc

import brookclient
from brookclient import BrookError, _Backoff, _Client, admin_pb2, admin_pb2_grpc, decode_error, fetch_partition
from brookclient import groups_pb2, log_pb2, log_pb2_grpc
from brook.v1 import groups_pb2_grpc

GROUPS_TOPIC = "__consumer_groups"
COORDINATOR_PARTITIONS = 8  # Limits.group_coordinator_partitions

_Reason = groups_pb2.GroupError
# Refusals after which the member is out of the group: drop everything without committing and join again.
_OUT_OF_GROUP = {_Reason.UNKNOWN_MEMBER, _Reason.FENCED_MEMBER_EPOCH}
# Worth sending again (a lost Heartbeat or commit answer is harmless to resend). RESOURCE_EXHAUSTED with a
# GroupError (GROUP_FULL, TOO_MANY_GROUPS) is a refusal, never resent.
_RESEND = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED,
           grpc.StatusCode.CANCELLED}
# A join (member_epoch 0) is resent only when it certainly created nothing: a join whose answer was lost
# (DEADLINE_EXCEEDED, CANCELLED) made a member, and sending it again would make a second one that holds
# partitions until its session ends.
_RESEND_JOIN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
# Fetch failures that only mean "nothing from this partition this round" (call_leader gave up for now).
_TRANSIENT = _RESEND
DEFAULT_SESSION_TIMEOUT_MS = 10000  # what the coordinator uses for session_timeout_ms 0


def coordinator_partition(group):
    """The __consumer_groups partition whose leader coordinates `group`."""
    return brookclient.fnv1a32(group.encode()) % COORDINATOR_PARTITIONS


def _by_topic(partitions):
    """[TopicPartitions] for a set of (topic, partition), sorted."""
    topics = {}
    for topic, p in sorted(partitions):
        topics.setdefault(topic, []).append(p)
    return [groups_pb2.TopicPartitions(topic=t, partitions=ps) for t, ps in topics.items()]


def _flatten(topic_partitions):
    return {(tp.topic, p) for tp in topic_partitions for p in tp.partitions}


class MemberLost(BrookError):
    """The member is out of the group (UNKNOWN_MEMBER, FENCED_MEMBER_EPOCH, or a session without answers): its
    partitions were dropped without a commit (on_lost) and it joins again on the next poll()."""


class GroupConsumer(_Client):
    """A member of consumer group `group` reading `topics`.

    Positions: a partition the member gets starts at the group's committed offset (the coordinator's, else the
    older per-partition store's), else at auto_offset_reset ("earliest" or "latest"). poll() returns records and
    moves each partition's position past them; commit() stores the positions, so a record counts as processed
    once the poll after the one that returned it begins (auto_commit does this every auto_commit_interval_s, when
    a partition is revoked, and in close()).

    Callbacks get a sorted list of (topic, partition): on_assign after the member got partitions (their
    positions are known), on_revoke before it gives partitions up (after their commit), on_lost after it lost
    them without a commit (out of the group; another member may have read past its positions already).
    """

    def __init__(self, bootstrap, group, topics, instance_id=None, session_timeout_ms=10000,
                 rebalance_timeout_ms=60000, assignor="uniform", auto_commit=True, auto_commit_interval_s=5.0,
                 auto_offset_reset="earliest", on_assign=None, on_revoke=None, on_lost=None, timeout_s=20.0,
                 request_timeout_s=5.0, accept_compressed=None, **security):
        """security: tls_ca_file, tls_cert_file, tls_key_file, token (brookclient.ChannelSecurity)."""
        super().__init__(bootstrap, timeout_s, **security)
        if auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset must be 'earliest' or 'latest', not {auto_offset_reset!r}")
        if not topics:
            raise ValueError("a group member needs at least one topic")
        self.group = group
        self.topics = list(topics)
        self.instance_id = instance_id or ""
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.assignor = assignor
        self.auto_commit = auto_commit
        self.auto_commit_interval_s = auto_commit_interval_s
        self.auto_offset_reset = auto_offset_reset
        self.request_timeout_s = request_timeout_s
        self.accept_compressed = brookclient.CAN_DECOMPRESS if accept_compressed is None else accept_compressed
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self.member_id = ""
        self.member_epoch = 0               # 0: not in the group (the next heartbeat joins)
        self.heartbeat_interval_s = session_timeout_ms / 3000.0
        self._coordinator = ""              # address of the coordinator, "" when not known
        # Every partition held (owned and not given up): (topic, partition) -> position, None until it is found.
        self._positions = {}
        self._announced = set()             # held partitions on_assign was called for
        self._committed = {}                # (topic, partition) -> the last offset this member committed
        self._next_heartbeat = 0.0          # monotonic time the next heartbeat is due
        # The session clock: the member may read until this monotonic time. It is the time the last answered
        # Heartbeat was SENT plus the session timeout, so it ends before the coordinator's (which starts when the
        # request arrived). Only meaningful while member_epoch > 0.
        self._lease_end = 0.0
        self._attempt_sent = 0.0            # when _coordinator_call sent its last attempt
        self._pending_error = None          # ((topic, partition), BrookError) to raise on the next poll
        self._next_auto_commit = time.monotonic() + auto_commit_interval_s
        self._closed = False

    # ---- what the application calls ----

    def assignment(self):
        """The partitions this member reads now: a set of (topic, partition)."""
        return set(self._positions)

    def positions(self):
        """{(topic, partition): next offset to read} for every held partition whose start is known."""
        return {tp: pos for tp, pos in self._positions.items() if pos is not None}

    def poll(self, timeout_s=1.0):
        """Heartbeats when due (joining first if needed), then reads the held partitions: returns a list of
        brookclient.Record (with .topic) as soon as one Fetch round found any, or [] after timeout_s.

        Never returns records once the member's session may have ended (no heartbeat answered for
        session_timeout_ms, counted from when the heartbeat was sent): it drops every partition then (on_lost)
        and joins again. Raises BrookError for a refusal the application must know of (group_reason GROUP_FULL
        or TOO_MANY_GROUPS on a join, for instance) and for a partition's non-transient Fetch error (e.g.
        DATA_LOSS); an error found after other partitions gave records is raised by the next poll()."""
        if self._pending_error is not None:
            # An error a partition gave in the last round, which returned other partitions' records first.
            (tp, error), self._pending_error = self._pending_error, None
            if tp in self._positions:  # still ours to read (else it no longer matters)
                raise error
        deadline = time.monotonic() + timeout_s
        while True:
            self._maintain()
            readable = [tp for tp, pos in self._positions.items() if pos is not None]
            now = time.monotonic()
            # Never wait past the next heartbeat, nor past the end of the session lease.
            until = min(deadline, self._next_heartbeat)
            if self.member_epoch > 0:
                until = min(until, self._lease_end)
            wait_s = max(0.0, until - now)
            if not readable:
                time.sleep(min(wait_s, 0.1))
            else:
                records = self._fetch_round(readable, wait_s, self._lease_end)
                if self._lease_over():
                    # The answers may have come after the coordinator could have moved the partitions: hand
                    # nothing out (their new owner reads them from the last commit) and join again.
                    self._lose_everything()
                    continue
                if records:
                    return records
            if time.monotonic() >= deadline:
                return []

    def commit(self):
        """Commits the position of every held partition (only those that moved since the last commit). Raises
        BrookError: NOT_OWNER or STALE_MEMBER_EPOCH (group_reason) if the coordinator refuses, MemberLost if the
        member is no longer in the group."""
        offsets = {tp: pos for tp, pos in self._positions.items()
                   if pos is not None and self._committed.get(tp) != pos}
        if offsets:
            self.commit_offsets(offsets)

    def commit_offsets(self, offsets):
        """Commits {(topic, partition): offset} (the next offset to read) for this member: one CommitOffsets per
        topic at the coordinator. Raises as commit() does."""
        if self.member_epoch <= 0:
            raise BrookError(grpc.StatusCode.FAILED_PRECONDITION,
                             f"group '{self.group}': not a member (yet); nothing committed")
        by_topic = {}
        for (topic, p), offset in sorted(offsets.items()):
            by_topic.setdefault(topic, []).append(groups_pb2.PartitionOffset(partition=p, offset=offset))
        for topic, parts in by_topic.items():
            req = groups_pb2.CommitOffsetsRequest(group=self.group, topic=topic, offsets=parts,
                                                  member_id=self.member_id, member_epoch=self.member_epoch)
            try:
                self._coordinator_call("CommitOffsets", req, self._timeout_s)
            except BrookError as e:
                if e.group_error is not None and e.group_error.reason in _OUT_OF_GROUP:
                    self._lose_everything()
                    raise MemberLost(e.code, f"group '{self.group}': commit refused, the member is out of the "
                                             f"group ({e.group_reason}); it joins again on the next poll",
                                     group_error=e.group_error) from None
                raise
            for po in parts:
                self._committed[(topic, po.partition)] = po.offset

    def close(self):
        """Commits (with auto_commit), then leaves the group: epoch -1 (its partitions move at once), or -2 for a
        static member (instance_id), whose partitions wait for its restart until its session ends."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.member_epoch > 0:
                if self.auto_commit:
                    try:
                        self.commit()
                    except BrookError as e:
                        print(f"brookgroup: {self.group}: commit on close failed: {e}", file=sys.stderr)
                leave = groups_pb2.HeartbeatRequest(group=self.group, member_id=self.member_id,
                                                    member_epoch=-2 if self.instance_id else -1,
                                                    instance_id=self.instance_id,
                                                    session_timeout_ms=self.session_timeout_ms,
                                                    rebalance_timeout_ms=self.rebalance_timeout_ms)
                try:
                    self._coordinator_call("Heartbeat", leave, self.request_timeout_s)
                except BrookError as e:
                    if e.group_error is not None and e.group_error.reason in _OUT_OF_GROUP:
                        pass  # a resent leave whose first attempt worked (or the member was removed): it is out
                    else:  # the session ends on its own then
                        print(f"brookgroup: {self.group}: leave failed: {e}", file=sys.stderr)
            self._positions.clear()
            self.member_epoch = 0
        finally:
            super().close()

    # ---- membership ----

    def _maintain(self):
        """Joins or heartbeats when due, finds the start of new partitions, and auto-commits when due."""
        if self._lease_over():
            # No answer for a whole session: the coordinator may have moved our partitions.
            self._lose_everything()
        if time.monotonic() >= self._next_heartbeat:
            self._heartbeat()
            if self._lease_over():  # the heartbeat failed (or took too long) and the session ran out meanwhile
                self._lose_everything()
        if any(pos is None for pos in self._positions.values()):
            self._find_positions()
        if self.auto_commit and self.member_epoch > 0 and time.monotonic() >= self._next_auto_commit:
            self._next_auto_commit = time.monotonic() + self.auto_commit_interval_s
            self._commit_quietly()

    def _heartbeat(self):
        """One Heartbeat (a join when member_epoch is 0); acts on the answer. Again at once after giving up
        revoked partitions, so their new owner gets them without waiting a heartbeat interval."""
        for _ in range(3):
            joining = self.member_epoch == 0
            # The timeouts go on every heartbeat: the coordinator takes 0 for its defaults.
            req = groups_pb2.HeartbeatRequest(group=self.group, member_id=self.member_id,
                                              member_epoch=self.member_epoch, instance_id=self.instance_id,
                                              session_timeout_ms=self.session_timeout_ms,
                                              rebalance_timeout_ms=self.rebalance_timeout_ms)
            if joining:
                req.topics.extend(self.topics)
                req.assignor = self.assignor
            else:
                req.owned.extend(_by_topic(self._positions))
            try:
                answer = self._coordinator_call("Heartbeat", req, self.request_timeout_s,
                                                _RESEND_JOIN if joining else _RESEND)
            except BrookError as e:
                if e.group_error is not None and e.group_error.reason in _OUT_OF_GROUP:
                    self._lose_everything()
                    continue  # join again at once
                if e.group_error is not None:
                    raise  # GROUP_FULL, TOO_MANY_GROUPS, ...: the caller must know
                if e.code in _RESEND:
                    # The coordinator is out of reach, or a join's answer was lost (a new join makes a new member;
                    # the lost one expires after its session): try again soon; the session clock runs meanwhile.
                    self._next_heartbeat = time.monotonic() + min(1.0, self.heartbeat_interval_s)
                    return
                raise
            # The coordinator heard the request after it was sent: the lease starts there, not at the answer.
            sent = self._attempt_sent
            self.member_id, self.member_epoch = answer.member_id, answer.member_epoch
            self._lease_end = sent + self._session_s()
            if answer.heartbeat_interval_ms:
                self.heartbeat_interval_s = answer.heartbeat_interval_ms / 1000.0
            # Heartbeat a little before the interval ends: a poll may overrun its Fetch wait a bit.
            self._next_heartbeat = sent + 0.8 * self.heartbeat_interval_s
            if not self._apply(answer):
                return

    def _apply(self, answer):
        """Takes an answer's assignment and revocations in; returns whether to heartbeat again at once. Stops as
        soon as the member is found out of the group (epoch 0): the answer's assignment is stale then."""
        assigned, revoking = _flatten(answer.assignment), _flatten(answer.revoking)
        held = set(self._positions)
        to_revoke = held & revoking
        vanished = held - assigned - revoking  # e.g. a deleted topic: nothing to hand over
        if to_revoke:
            if self.auto_commit:
                self._commit_quietly({tp: self._positions[tp] for tp in to_revoke})
                if self.member_epoch == 0:
                    return False  # the commit found the member out of the group: everything is lost already
            self._drop(to_revoke)
            self._call("revoke", to_revoke)
            if self.member_epoch == 0:
                return False  # a commit in the callback found the member out of the group
        if vanished:
            self._drop(vanished)
            self._call("lost", vanished)
            if self.member_epoch == 0:
                return False
        for tp in assigned - held:
            self._positions[tp] = None  # held from now on; its start is found next
        return bool(to_revoke)

    def _find_positions(self):
        """Start offsets of new partitions: the coordinator's committed offsets, else the partition's own store
        (FetchOffsets at its leader), else auto_offset_reset. Then on_assign for them."""
        pending = {tp for tp, pos in self._positions.items() if pos is None}
        try:
            described = self._coordinator_call(
                "DescribeGroup", groups_pb2.DescribeGroupRequest(group=self.group, omit_members=True,
                                                                 offsets_of=_by_topic(pending)),
                self.request_timeout_s)
            found = {(o.topic, o.partition): o.offset for o in described.offsets}
            for tp in pending:
                if tp not in found:
                    found[tp] = self._start_without_coordinator_offset(*tp)
        except BrookError as e:
            if e.code in _RESEND:
                return  # try again on the next poll
            raise
        for tp in pending:
            if tp in self._positions:  # not dropped meanwhile
                self._positions[tp] = found[tp]
                self._committed[tp] = found[tp]
        fresh = {tp for tp in pending if tp in self._positions} - self._announced
        self._announced |= fresh
        self._call("assign", fresh)

    def _start_without_coordinator_offset(self, topic, partition):
        fetched = self.call_leader(topic, partition, lambda ch: groups_pb2_grpc.ConsumerGroupsStub(ch).FetchOffsets(
            groups_pb2.FetchOffsetsRequest(group=self.group, topic=topic, partitions=[partition]),
            timeout=self.request_timeout_s))
        for o in fetched.offsets:
            if o.partition == partition and o.committed:
                return o.offset
        spec = (log_pb2.ListOffsetsRequest.EARLIEST if self.auto_offset_reset == "earliest"
                else log_pb2.ListOffsetsRequest.LATEST)
        req = log_pb2.ListOffsetsRequest(topic=topic, partition=partition, spec=spec)
        return self.call_leader(topic, partition, lambda ch: log_pb2_grpc.LogStub(ch).ListOffsets(
            req, timeout=self.request_timeout_s)).offset

    def _session_s(self):
        return (self.session_timeout_ms or DEFAULT_SESSION_TIMEOUT_MS) / 1000.0

    def _lease_over(self):
        """Whether the member is in the group by its last answer but its session may have ended since."""
        return self.member_epoch > 0 and time.monotonic() >= self._lease_end

    def _drop(self, partitions):
        for tp in partitions:
            self._positions.pop(tp, None)
            self._committed.pop(tp, None)
            self._announced.discard(tp)

    def _lose_everything(self):
        """Out of the group: drop every partition without committing, tell on_lost, and join again (epoch 0; a
        static member keeps its instance_id)."""
        lost = set(self._positions)
        self._drop(lost)
        self.member_id, self.member_epoch = "", 0
        self._next_heartbeat = 0.0
        self._lease_end = 0.0
        self._pending_error = None  # about a partition it no longer reads
        self._call("lost", lost)

    def _commit_quietly(self, offsets=None):
        """An automatic commit: a refusal is reported on stderr, not raised (the records were handed out already;
        the next owner re-reads from the last commit)."""
        try:
            if offsets is None:
                self.commit()
            else:
                offsets = {tp: pos for tp, pos in offsets.items()
                           if pos is not None and self._committed.get(tp) != pos}
                if offsets:
                    self.commit_offsets(offsets)
        except BrookError as e:
            print(f"brookgroup: {self.group}: automatic commit failed: {e}", file=sys.stderr)

    def _call(self, which, partitions):
        callback = self._callbacks[which]
        if callback is not None and partitions:
            callback(sorted(partitions))

    # ---- reading ----

    def _fetch_round(self, readable, wait_s, lease_end):
        """One Fetch per readable partition; only the last one long-polls (up to wait_s), and only when the
        others found nothing. No call runs past lease_end (a member in the group reads only within its lease).

        Errors are per partition: a transient one (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED,
        also once call_leader gives up) means no records from that partition this round; another one (DATA_LOSS,
        NOT_FOUND, ...) leaves that partition's position where it was and is raised, at once when no partition
        had records, else on the next poll after these records (whose positions moved) were handed out."""
        out = []
        error = None  # (partition, BrookError) of the first non-transient failure
        deadline = lease_end if self.member_epoch > 0 else None
        for i, (topic, p) in enumerate(sorted(readable)):
            long_poll = i == len(readable) - 1 and not out and error is None
            wait_ms = int(wait_s * 1000) if long_poll else 0
            try:
                fetched = fetch_partition(self, topic, p, self._positions[(topic, p)], wait_ms,
                                          self.accept_compressed, deadline)
            except BrookError as e:
                if e.code not in _TRANSIENT and error is None:
                    error = ((topic, p), e)  # the position stays (e.g. before a damaged batch)
                continue
            if (topic, p) in self._positions:
                out.extend(fetched.records)
                self._positions[(topic, p)] = fetched.next_offset
        if error is not None:
            if not out:
                raise error[1]
            self._pending_error = error
        return out

    # ---- the coordinator ----

    def _find_coordinator(self):
        """The coordinator's address from the metadata of __consumer_groups, or any node while the topic or its
        leader is not known (that node names the leader, or says when to retry)."""
        partition = coordinator_partition(self.group)
        for address in self._addresses():
            try:
                md = admin_pb2_grpc.AdminStub(self._channel(address)).GetMetadata(
                    admin_pb2.GetMetadataRequest(topics=[GROUPS_TOPIC]), timeout=self.request_timeout_s)
            except grpc.RpcError as e:
                err = decode_error(e)
                if err.code == grpc.StatusCode.NOT_FOUND:
                    return address  # the topic does not exist yet: the first Heartbeat creates it
                if err.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    raise err  # another node will not think otherwise: never retried
                continue
            for n in md.nodes:
                self._nodes[n.id] = n.client_address
            for t in md.topics:
                if t.name == GROUPS_TOPIC and partition < len(t.partitions):
                    leader = self._nodes.get(t.partitions[partition].leader_id)
                    if leader:
                        return leader
            return address
        return self._bootstrap[0]

    def _coordinator_call(self, method, request, budget_s, resend=_RESEND):
        """Calls ConsumerGroups.<method> at the coordinator, following NotLeader at once and resending the codes
        in `resend` (default UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED and CANCELLED) with backoff for up
        to budget_s; never a refusal with a GroupError. Sets _attempt_sent to when the last attempt went out.
        Raises BrookError (with group_error for a GroupError refusal)."""
        deadline = time.monotonic() + budget_s
        backoff = _Backoff()
        hints = 0
        while True:
            address = self._coordinator or self._find_coordinator()
            self._coordinator = address
            self._attempt_sent = time.monotonic()
            remaining = deadline - self._attempt_sent
            try:
                return getattr(groups_pb2_grpc.ConsumerGroupsStub(self._channel(address)), method)(
                    request, timeout=max(0.05, min(self.request_timeout_s, remaining)))
            except grpc.RpcError as rpc_error:
                err = decode_error(rpc_error)
            self._coordinator = ""
            hint = err.not_leader
            if hint is not None and hint.leader_address and hint.leader_address != address and hints < 5:
                self._coordinator, hints = hint.leader_address, hints + 1
                continue  # follow at once
            if err.code not in resend or err.group_error is not None:
                raise err
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise err
            hints = 0
            time.sleep(min(backoff.next((err.retry_delay_ms or 0) / 1000.0), remaining))
