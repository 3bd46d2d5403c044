"""A small Brook client for Python on Debian's python3-grpcio and python3-protobuf.

Stubs are generated from the project's protos (proto/brook/v1/*.proto) with protoc and grpc_python_plugin into a
cache directory on first use (see ensure_stubs), so nothing generated is checked in.

    from brookclient import Producer, Consumer
    p = Producer("127.0.0.1:7101,127.0.0.1:7102")
    partition, offset = p.send("orders", b"value", key=b"user-1")
    c = Consumer("127.0.0.1:7101", "orders")
    c.seek_to_beginning()
    for rec in c.poll(timeout_s=1.0): print(rec.partition, rec.offset, rec.key, rec.value)

Routing: GetMetadata from any node gives each partition's leader; a call that reaches another node fails with
UNAVAILABLE and a brook.v1.NotLeader detail in the `grpc-status-details-bin` trailer, which the client follows at
once. UNAVAILABLE and RESOURCE_EXHAUSTED are retried with exponential backoff and jitter until a deadline.
Keys pick partitions with FNV-1a 32-bit modulo the partition count, exactly like the C++ client.
"""

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROTO_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "proto"))


def ensure_stubs(out_dir=None):
    """Generates Python stubs for brook.v1 into out_dir (default $BROOK_PY_STUBS or ~/.cache/brook-py) once, and
    puts the directory on sys.path."""
    out_dir = out_dir or os.environ.get("BROOK_PY_STUBS") or os.path.join(
        os.path.expanduser("~"), ".cache", "brook-py")
    marker = os.path.join(out_dir, "brook", "v1", "log_pb2_grpc.py")
    protos = sorted("brook/v1/" + f for f in os.listdir(os.path.join(_PROTO_DIR, "brook", "v1"))
                    if f.endswith(".proto"))
    newest = max(os.path.getmtime(os.path.join(_PROTO_DIR, p)) for p in protos)
    if not os.path.exists(marker) or os.path.getmtime(marker) < newest:
        os.makedirs(out_dir, exist_ok=True)
        plugin = subprocess.run(["sh", "-c", "command -v grpc_python_plugin"], capture_output=True,
                                text=True, check=True).stdout.strip()
        subprocess.run(["protoc", "-I", _PROTO_DIR, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
                        "--plugin=protoc-gen-grpc_python=" + plugin] + protos, check=True)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)


ensure_stubs()

import grpc  # noqa: E402
from brook.v1 import admin_pb2, admin_pb2_grpc, errors_pb2, log_pb2, log_pb2_grpc, records_pb2  # noqa: E402


def fnv1a32(data: bytes) -> int:
    """FNV-1a 32-bit, the key hash of docs/api.md "Partitioning"."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


class BrookError(Exception):
    def __init__(self, code, message, not_leader=None, retry_delay_ms=None):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.not_leader = not_leader
        self.retry_delay_ms = retry_delay_ms


def decode_error(err: grpc.RpcError) -> BrookError:
    """Reads brook.v1.ErrorStatus from the grpc-status-details-bin trailer."""
    not_leader, retry = None, None
    for key, value in (err.trailing_metadata() or ()):
        if key != "grpc-status-details-bin":
            continue
        status = errors_pb2.ErrorStatus()
        try:
            status.ParseFromString(value)
        except Exception:  # a malformed trailer leaves only code and message
            break
        for any_msg in status.details:
            if any_msg.Is(errors_pb2.NotLeader.DESCRIPTOR):
                not_leader = errors_pb2.NotLeader()
                any_msg.Unpack(not_leader)
            elif any_msg.Is(errors_pb2.RetryInfo.DESCRIPTOR):
                info = errors_pb2.RetryInfo()
                any_msg.Unpack(info)
                retry = info.retry_delay_ms
    return BrookError(err.code(), err.details(), not_leader, retry)


_RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int


class _Client:
    def __init__(self, bootstrap, timeout_s=20.0):
        self._bootstrap = [a.strip() for a in bootstrap.split(",") if a.strip()]
        if not self._bootstrap:
            raise ValueError("no bootstrap address")
        self._timeout_s = timeout_s
        self._channels = {}
        self._nodes = {}      # node id -> address
        self._topics = {}     # name -> brook.v1.Topic

    def _channel(self, address):
        if address not in self._channels:
            self._channels[address] = grpc.insecure_channel(address)
        return self._channels[address]

    def _addresses(self):
        out = list(self._nodes.values())
        return out + [a for a in self._bootstrap if a not in out]

    def refresh(self, topic):
        last = None
        for address in self._addresses():
            stub = admin_pb2_grpc.AdminStub(self._channel(address))
            try:
                md = stub.GetMetadata(admin_pb2.GetMetadataRequest(topics=[topic]), timeout=3)
            except grpc.RpcError as e:
                last = decode_error(e)
                if last.code not in _RETRY:
                    raise last
                continue
            for n in md.nodes:
                self._nodes[n.id] = n.client_address
            for t in md.topics:
                self._topics[t.name] = t
            if topic not in self._topics:
                raise BrookError(grpc.StatusCode.NOT_FOUND, f"topic '{topic}' does not exist")
            return self._topics[topic]
        raise last or BrookError(grpc.StatusCode.UNAVAILABLE, "no node answered")

    def topic(self, name):
        return self._topics.get(name) or self.refresh(name)

    def _leader(self, topic, partition):
        t = self.topic(topic)
        leader = t.partitions[partition].leader_id if partition < len(t.partitions) else 0
        return self._nodes.get(leader, "") if leader else ""

    def call_leader(self, topic, partition, fn):
        """Runs fn(channel) on the partition leader, following NotLeader and retrying with backoff."""
        deadline = time.monotonic() + self._timeout_s
        hinted, delay = "", 0.02
        for _ in range(200):
            address = hinted or self._leader(topic, partition)
            hinted = ""
            if not address:
                self.refresh(topic)
                address = self._leader(topic, partition)
            if address:
                try:
                    return fn(self._channel(address))
                except grpc.RpcError as e:
                    err = decode_error(e)
                    if err.not_leader is not None and err.not_leader.leader_address and \
                            err.not_leader.leader_address != address:
                        hinted = err.not_leader.leader_address  # follow at once
                        continue
                    if err.code not in _RETRY:
                        raise err
                    self._topics.pop(topic, None)
                    floor = (err.retry_delay_ms or 0) / 1000.0
            else:
                floor = 0
            if time.monotonic() >= deadline:
                raise BrookError(grpc.StatusCode.DEADLINE_EXCEEDED, f"no leader for {topic}/{partition} in time")
            time.sleep(max(floor, random.uniform(delay / 2, delay)))
            delay = min(delay * 2, 1.0)
            if time.monotonic() >= deadline:
                break
        raise BrookError(grpc.StatusCode.DEADLINE_EXCEEDED, f"gave up on {topic}/{partition}")

    def close(self):
        for ch in self._channels.values():
            ch.close()


class Producer(_Client):
    """Synchronous, idempotent producer: one Produce per send()/send_batch(), with a random producer id and
    per-partition sequence numbers so that retries never duplicate."""

    def __init__(self, bootstrap, timeout_s=20.0):
        super().__init__(bootstrap, timeout_s)
        self.producer_id = random.getrandbits(64) or 1
        self._sequence = {}
        self._round_robin = 0

    def partition_for(self, topic, key):
        count = self.topic(topic).partition_count
        if key:
            return fnv1a32(key) % count
        self._round_robin += 1
        return (self._round_robin - 1) % count

    def send_batch(self, topic, partition, records):
        """records: list of (key, value). Returns the base offset of the batch."""
        seq = self._sequence.get((topic, partition), 0)
        request = log_pb2.ProduceRequest(
            topic=topic, partition=partition, producer_id=self.producer_id, sequence=seq,
            records=[records_pb2.Record(key=k or b"", value=v) for k, v in records])
        response = self.call_leader(
            topic, partition, lambda ch: log_pb2_grpc.LogStub(ch).Produce(request, timeout=5))
        self._sequence[(topic, partition)] = seq + len(records)
        return response.base_offset

    def send(self, topic, value, key=None, partition=None):
        """Returns (partition, offset)."""
        if partition is None:
            partition = self.partition_for(topic, key)
        return partition, self.send_batch(topic, partition, [(key, value)])


class Consumer(_Client):
    """Reads all (or the given) partitions of a topic with long-poll Fetch."""

    def __init__(self, bootstrap, topic, partitions=None, timeout_s=20.0):
        super().__init__(bootstrap, timeout_s)
        self.topic_name = topic
        count = self.topic(topic).partition_count
        self.positions = {p: 0 for p in (partitions if partitions is not None else range(count))}
        self.gaps = []

    def _list_offsets(self, partition, spec):
        req = log_pb2.ListOffsetsRequest(topic=self.topic_name, partition=partition, spec=spec)
        return self.call_leader(self.topic_name, partition,
                                lambda ch: log_pb2_grpc.LogStub(ch).ListOffsets(req, timeout=5))

    def seek_to_beginning(self):
        for p in self.positions:
            self.positions[p] = self._list_offsets(p, log_pb2.ListOffsetsRequest.EARLIEST).offset

    def end_offsets(self):
        return {p: self._list_offsets(p, log_pb2.ListOffsetsRequest.LATEST).offset for p in self.positions}

    def poll(self, timeout_s=1.0):
        """One Fetch per partition (the last one long-polls); returns the records found, in offset order per
        partition. Gaps (trimmed records) are appended to self.gaps and skipped."""
        out = []
        parts = list(self.positions)
        for i, p in enumerate(parts):
            wait_ms = int(timeout_s * 1000) if (i == len(parts) - 1 and not out) else 0
            req = log_pb2.FetchRequest(topic=self.topic_name, partition=p, offset=self.positions[p],
                                       max_wait_ms=wait_ms)
            resp = self.call_leader(self.topic_name, p,
                                    lambda ch: log_pb2_grpc.LogStub(ch).Fetch(req, timeout=wait_ms / 1000 + 5))
            if resp.HasField("gap"):
                self.gaps.append((p, resp.gap.start_offset, resp.gap.end_offset))
            for r in resp.records:
                out.append(Record(p, r.offset, r.key, r.value, r.timestamp_ms))
            self.positions[p] = max(self.positions[p], resp.next_offset)
        return out
