"""A small Brook client for Python on Debian's python3-grpcio and python3-protobuf.

Run from the checkout, the stubs are generated from the project's protos (proto/brook/v1/*.proto) with protoc and
grpc_python_plugin into a cache directory on first use (see ensure_stubs), so nothing generated is checked in. The
installed package (`pip install client/python`, package brook-client) carries stubs generated at build time.

    from brookclient import Producer, Consumer
    p = Producer("127.0.0.1:7101,127.0.0.1:7102")
    partition, offset = p.send("orders", b"value", key=b"user-1", headers=[("trace-id", b"42")])
    c = Consumer("127.0.0.1:7101", "orders")
    c.seek_to_beginning()
    for rec in c.poll(timeout_s=1.0): print(rec.partition, rec.offset, rec.key, rec.value, rec.headers)

Routing: GetMetadata from any node gives each partition's leader; a call that reaches another node fails with
UNAVAILABLE and a brook.v1.NotLeader detail in the `grpc-status-details-bin` trailer, which the client follows at
once. Reads retry UNAVAILABLE and RESOURCE_EXHAUSTED with exponential backoff and jitter until a deadline; the
Producer's rules for writes are on the class (and in client/README.md).
Keys pick partitions with FNV-1a 32-bit modulo the partition count, exactly like the C++ client.
"""

import os
import random
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROTO_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "proto"))


def _running_from_checkout():
    """Whether this module sits in a Brook checkout (client/python/ beside proto/) rather than in an installed
    package, which carries its stubs as the top-level package brook.v1 beside this module."""
    return os.path.isdir(os.path.join(_PROTO_DIR, "brook", "v1"))


def ensure_stubs(out_dir=None):
    """From a checkout: generates Python stubs for brook.v1 into out_dir (default $BROOK_PY_STUBS or
    ~/.cache/brook-py) once, and puts the directory on sys.path. Installed (pip): the stubs came with the package
    and are importable already; nothing to do."""
    if not _running_from_checkout():
        if os.path.exists(os.path.join(_HERE, "brook", "v1", "log_pb2_grpc.py")):
            return
        raise ImportError(f"brookclient: no brook.v1 stubs beside {_HERE} and no protos at {_PROTO_DIR}; "
                          "install the package (pip install client/python) or run from a Brook checkout")
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
from brook.v1 import admin_pb2, admin_pb2_grpc, errors_pb2, groups_pb2, log_pb2, log_pb2_grpc, records_pb2  # noqa: E402,F401
try:
    from brook.v1 import access_pb2, access_pb2_grpc  # noqa: E402
except ImportError:  # pragma: no cover - stubs made before brook.v1.Access existed
    access_pb2 = access_pb2_grpc = None

# Compressed batches (docs/api.md "Compression") need Debian's python3-lz4 and python3-zstandard. Without them the
# consumer does not ask for compressed batches and the node decompresses for it.
try:
    import lz4.frame as _lz4frame
    import zstandard as _zstd
    CAN_DECOMPRESS = True
except ImportError:  # pragma: no cover - depends on the machine
    CAN_DECOMPRESS = False
# A producer may compress its batches (Producer(compression="lz4" | "zstd")) with the same two packages.
COMPRESSION_CODECS = ("lz4", "zstd")
# The server's Limits.max_batch_bytes (default): a compressed batch may decompress to at most this many bytes, so a
# batch whose records serialize to more goes uncompressed (as the C++ producer does).
MAX_UNCOMPRESSED_BATCH_BYTES = 4 << 20
try:
    from crc32c import crc32c as _crc32c_native  # python3-crc32c, optional: a table below does the same slower
except ImportError:  # pragma: no cover
    _crc32c_native = None


def _crc32c_table():
    table = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c_portable(data: bytes) -> int:
    """CRC-32C (Castagnoli) in pure Python: crc32c_portable(b"123456789") == 0xE3069283."""
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ _CRC32C_TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """CRC-32C of data: python3-crc32c when installed, else crc32c_portable."""
    return _crc32c_native(data) if _crc32c_native is not None else crc32c_portable(data)


def fnv1a32(data: bytes) -> int:
    """FNV-1a 32-bit, the key hash of docs/api.md "Partitioning"."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


class BrookError(Exception):
    """A failed call: its gRPC code and message, and the brook.v1 details the client acts on."""

    def __init__(self, code, message, not_leader=None, retry_delay_ms=None, write_outcome=None,
                 sequence_error=None, offset_mismatch=None, unknown_producer=None, group_error=None):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.not_leader = not_leader
        self.retry_delay_ms = retry_delay_ms
        self.write_outcome = write_outcome      # errors_pb2.WriteOutcome.Outcome value, or None when absent
        self.sequence_error = sequence_error
        self.unknown_producer = unknown_producer  # the partition forgot this producer id (errors.proto)
        self.offset_mismatch = offset_mismatch
        self.group_error = group_error  # groups_pb2.GroupError of a refused group call, or None

    @property
    def group_reason(self):
        """The GroupError reason's name ("NOT_OWNER", "UNKNOWN_MEMBER", ...), or None without a GroupError."""
        if self.group_error is None:
            return None
        return groups_pb2.GroupError.Reason.Name(self.group_error.reason)


def decode_error(err: grpc.RpcError) -> BrookError:
    """Reads brook.v1.ErrorStatus from the grpc-status-details-bin trailer."""
    fields = {}
    for key, value in (err.trailing_metadata() or ()):
        if key != "grpc-status-details-bin":
            continue
        status = errors_pb2.ErrorStatus()
        try:
            status.ParseFromString(value)
        except Exception:  # a malformed trailer leaves only code and message
            break
        for any_msg in status.details:
            for name, message_type in (("not_leader", errors_pb2.NotLeader),
                                       ("retry_delay_ms", errors_pb2.RetryInfo),
                                       ("write_outcome", errors_pb2.WriteOutcome),
                                       ("sequence_error", errors_pb2.SequenceError),
                                       ("unknown_producer", errors_pb2.UnknownProducer),
                                       ("offset_mismatch", errors_pb2.OffsetMismatch),
                                       ("group_error", groups_pb2.GroupError)):
                if any_msg.Is(message_type.DESCRIPTOR):
                    detail = message_type()
                    any_msg.Unpack(detail)
                    fields[name] = detail
    if "retry_delay_ms" in fields:
        fields["retry_delay_ms"] = fields["retry_delay_ms"].retry_delay_ms
    if "write_outcome" in fields:
        fields["write_outcome"] = fields["write_outcome"].outcome
    return BrookError(err.code(), err.details() or "", **fields)


_RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}

# Produce failures that resending cannot fix: the send ends at once.
_FINAL = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
          grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNIMPLEMENTED,
          grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


def not_written(err: BrookError) -> bool:
    """Whether a failed Produce certainly wrote nothing (and never will): a WriteOutcome detail that says
    NOT_WRITTEN, or a status that can mean nothing else (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION with
    SequenceError or OffsetMismatch). Anything else, including a deadline that passed on the client, a broken
    connection, CANCELLED, or UNAVAILABLE without a WriteOutcome, may have been written: errors.proto WriteOutcome."""
    if err.write_outcome is not None and err.write_outcome != errors_pb2.WriteOutcome.OUTCOME_UNSPECIFIED:
        return err.write_outcome == errors_pb2.WriteOutcome.NOT_WRITTEN
    if err.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        return True
    return err.code == grpc.StatusCode.FAILED_PRECONDITION and (
        err.sequence_error is not None or err.offset_mismatch is not None)


def new_producer_id() -> int:
    """A random non-zero 63-bit producer id (0 means "not idempotent"; ids with the top bit set are the ones the
    cluster assigns with InitProducer), from the OS's generator so that two processes that seeded `random` alike
    still differ."""
    while True:
        pid = secrets.randbits(63)
        if pid:
            return pid


class _Backoff:
    """Exponential backoff with jitter, like the C++ client's: bounds 20 ms doubling to 1 s, each delay drawn
    from [bound/2, bound] and never below the server's RetryInfo."""

    def __init__(self, initial_s=0.02, max_s=1.0):
        self._bound = initial_s
        self._max = max_s

    def next(self, floor_s=0.0):
        delay = max(floor_s, random.uniform(self._bound / 2, self._bound))
        self._bound = min(self._bound * 2, self._max)
        return delay


def _headers(headers):
    """Record headers from a list of (key, value) pairs or a dict; str values are UTF-8 encoded."""
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    return [records_pb2.Header(key=k, value=v.encode() if isinstance(v, str) else bytes(v)) for k, v in items]


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int
    headers: list = field(default_factory=list)  # [(key: str, value: bytes)], in the producer's order
    tombstone: bool = False  # the record deletes its key (compacted topics); value is b""
    topic: str = ""


def _data_loss(batch, why):
    return BrookError(grpc.StatusCode.DATA_LOSS, f"compressed batch at offset {batch.base_offset}: {why}")


def _decompress(compression, data, limit):
    """The frames of `data` decompressed, never more than limit + 1 bytes. Raises ValueError."""
    out = bytearray()
    if compression == records_pb2.COMPRESSION_ZSTD:
        reader = _zstd.ZstdDecompressor().stream_reader(data, read_across_frames=True)
        while len(out) <= limit:
            chunk = reader.read(limit + 1 - len(out))
            if not chunk:
                break
            out += chunk
    elif compression == records_pb2.COMPRESSION_LZ4:
        while data and len(out) <= limit:
            dec = _lz4frame.LZ4FrameDecompressor()
            out += dec.decompress(data, max_length=limit + 1 - len(out))
            if not dec.eof:
                if dec.needs_input:
                    raise ValueError("the LZ4 frame is truncated")
                break  # stopped at the bound
            data = dec.unused_data or b""
    else:
        raise ValueError(f"unknown compression {compression}")
    if len(out) > limit:
        raise ValueError(f"decompresses to more than {limit} bytes")
    return bytes(out)


def _compress(codec, plain):
    """plain compressed with codec ("lz4": one LZ4 frame, "zstd": one Zstandard frame)."""
    if codec == "lz4":
        return _lz4frame.compress(plain, store_size=True)
    return _zstd.ZstdCompressor().compress(plain)


def compress_batch(codec, records):
    """The ProduceRequest fields that carry `records` (Record messages) compressed with codec ("lz4" or "zstd"):
    {compression, compressed_records, record_count, compressed_crc32c} (log.proto ProduceRequest), or None when the
    records serialize to more than MAX_UNCOMPRESSED_BATCH_BYTES and must go as plain records."""
    plain = records_pb2.RecordList(records=records).SerializeToString()
    if len(plain) > MAX_UNCOMPRESSED_BATCH_BYTES:
        return None
    data = _compress(codec, plain)
    enum = records_pb2.COMPRESSION_LZ4 if codec == "lz4" else records_pb2.COMPRESSION_ZSTD
    return {"compression": enum, "compressed_records": data, "record_count": len(records),
            "compressed_crc32c": crc32c(data), "_uncompressed_bytes": len(plain)}


def expand_batch(batch, from_offset):
    """The StoredRecords of a brook.v1.CompressedBatch from from_offset on, after checking its CRC-32C, size and
    count (records.proto CompressedBatch). Raises BrookError(DATA_LOSS) for a damaged or inconsistent batch."""
    got = crc32c(batch.data)
    if got != batch.crc32c:
        raise _data_loss(batch, f"CRC-32C mismatch (batch says {batch.crc32c}, data has {got})")
    try:
        plain = _decompress(batch.compression, batch.data, batch.uncompressed_bytes)
    except Exception as e:  # the codecs raise their own error types
        raise _data_loss(batch, f"does not decompress: {e}") from e
    if len(plain) != batch.uncompressed_bytes:
        raise _data_loss(batch, f"decompresses to {len(plain)} bytes, not {batch.uncompressed_bytes}")
    records = records_pb2.RecordList()
    records.ParseFromString(plain)
    if len(records.records) != batch.record_count:
        raise _data_loss(batch, f"says {batch.record_count} records but holds {len(records.records)}")
    out = []
    for i, r in enumerate(records.records):
        if batch.base_offset + i >= from_offset:
            out.append(records_pb2.StoredRecord(
                offset=batch.base_offset + i, timestamp_ms=r.timestamp_ms or batch.append_time_ms,
                append_time_ms=batch.append_time_ms, key=r.key, value=r.value, headers=r.headers,
                tombstone=r.tombstone))
    return out


# ---- TLS and bearer tokens (docs/security.md) ----

def _option_or_env(value, env):
    """An option given (even "", which turns it off) wins over its environment variable."""
    return os.environ.get(env, "") if value is None else value


def _read_pem(option, what, path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{option}: {what} file '{path}' cannot be read ({e.strerror or e})") from None
    if not data:
        raise ValueError(f"{option}: {what} file '{path}' cannot be read (it is empty)")
    return data


class _TokenAuth(grpc.AuthMetadataPlugin):
    """Call credentials that add `authorization: Bearer <token>` to every call of a TLS channel."""

    def __init__(self, metadata):
        self._metadata = metadata

    def __call__(self, context, callback):
        callback(self._metadata, None)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details, metadata):
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                        grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the token's metadata to every call of a plaintext channel (gRPC refuses call credentials there)."""

    def __init__(self, metadata):
        self._metadata = metadata

    def _details(self, details):
        return _CallDetails(details, list(details.metadata or ()) + list(self._metadata))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


def _check_token(token):
    if any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise ValueError("token: a bearer token is printable ASCII without spaces or line breaks")
    return token


class ChannelSecurity:
    """How a client's channels are made: TLS from tls_ca_file (with tls_cert_file and tls_key_file to present a
    client certificate) and a bearer token sent as `authorization: Bearer <token>` on every call. Each option left
    None comes from its environment variable (BROOK_TLS_CA, BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN); "" turns
    it off whatever the environment says. The files are read once, here: one that cannot be read raises
    ValueError naming the option, as the C++ client (Connection::LoadTls) and the CLI refuse it.

    A token over plaintext is sent as per-call metadata (allowed, for loopback testing); anywhere else give a CA
    too, or anyone on the path can read the token."""

    def __init__(self, tls_ca_file=None, tls_cert_file=None, tls_key_file=None, token=None):
        self.tls_ca_file = _option_or_env(tls_ca_file, "BROOK_TLS_CA")
        self.tls_cert_file = _option_or_env(tls_cert_file, "BROOK_TLS_CERT")
        self.tls_key_file = _option_or_env(tls_key_file, "BROOK_TLS_KEY")
        self.token = _check_token(_option_or_env(token, "BROOK_TOKEN"))
        self._metadata = (("authorization", "Bearer " + self.token),) if self.token else ()
        self.credentials = None  # grpc.ChannelCredentials with TLS, None for plaintext
        if not self.tls_ca_file:
            if self.tls_cert_file or self.tls_key_file:
                raise ValueError("tls_cert_file/tls_key_file: a TLS certificate or key without a CA: give "
                                 "tls_ca_file (or BROOK_TLS_CA) too")
            return
        ca = _read_pem("tls_ca_file", "TLS CA", self.tls_ca_file)
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file/tls_key_file: give both the TLS certificate and its key, or neither")
        cert = key = None
        if self.tls_cert_file:
            cert = _read_pem("tls_cert_file", "TLS certificate", self.tls_cert_file)
            key = _read_pem("tls_key_file", "TLS key", self.tls_key_file)
        self.credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        if self._metadata:
            self.credentials = grpc.composite_channel_credentials(
                self.credentials, grpc.metadata_call_credentials(_TokenAuth(self._metadata), name="brook-token"))

    @property
    def tls(self):
        return self.credentials is not None

    def channel(self, address, options=None):
        """A new channel to address (host:port), with TLS and the token as configured."""
        options = list(options or ())
        if self.credentials is not None:
            return grpc.secure_channel(address, self.credentials, options)
        channel = grpc.insecure_channel(address, options)
        return grpc.intercept_channel(channel, _TokenInterceptor(self._metadata)) if self._metadata else channel



class _Client:
    """Every client takes, besides its own options, tls_ca_file, tls_cert_file, tls_key_file and token (keyword
    arguments; None: from BROOK_TLS_CA, BROOK_TLS_CERT, BROOK_TLS_KEY, BROOK_TOKEN): see ChannelSecurity."""

    def __init__(self, bootstrap, timeout_s=20.0, *, tls_ca_file=None, tls_cert_file=None, tls_key_file=None,
                 token=None):
        self._bootstrap = [a.strip() for a in bootstrap.split(",") if a.strip()]
        if not self._bootstrap:
            raise ValueError("no bootstrap address")
        self._security = ChannelSecurity(tls_ca_file, tls_cert_file, tls_key_file, token)
        self._timeout_s = timeout_s
        self._channels_lock = threading.Lock()
        self._channels = {}   # address -> grpc.Channel, guarded by _channels_lock
        self._nodes = {}      # node id -> address
        self._topics = {}     # name -> brook.v1.Topic

    def _channel(self, address):
        with self._channels_lock:
            if address not in self._channels:
                self._channels[address] = self._security.channel(address)
            return self._channels[address]

    def _addresses(self):
        out = list(self._nodes.values())
        return out + [a for a in self._bootstrap if a not in out]

    def refresh(self, topic, timeout_s=3.0):
        last = None
        for address in self._addresses():
            stub = admin_pb2_grpc.AdminStub(self._channel(address))
            try:
                md = stub.GetMetadata(admin_pb2.GetMetadataRequest(topics=[topic]), timeout=timeout_s)
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
        raise self._unanswered(last)

    def _unanswered(self, last):
        """The error when no node answered: the last one, which says, for a plaintext client, that nodes speaking
        TLS refuse it (their handshake fails, and gRPC reports only UNAVAILABLE)."""
        last = last or BrookError(grpc.StatusCode.UNAVAILABLE, "no node answered")
        if last.code == grpc.StatusCode.UNAVAILABLE and not self._security.tls:
            return BrookError(last.code, f"{last.message} (if the nodes speak TLS, they refuse this plaintext "
                                         "client: give tls_ca_file or BROOK_TLS_CA)")
        return last

    def topic(self, name):
        return self._topics.get(name) or self.refresh(name)

    def who_am_i(self, timeout_s=5.0):
        """brook.v1.Access.WhoAmI at the first node that answers: the WhoAmIResponse (principal, method,
        superuser, authorization_enabled) of this client's token or certificate. Raises BrookError, at once for
        UNAUTHENTICATED (a missing or wrong token where the nodes check them)."""
        if access_pb2_grpc is None:
            raise BrookError(grpc.StatusCode.UNIMPLEMENTED, "these brook.v1 stubs have no Access service")
        last = None
        for address in self._addresses():
            try:
                return access_pb2_grpc.AccessStub(self._channel(address)).WhoAmI(access_pb2.WhoAmIRequest(),
                                                                                   timeout=timeout_s)
            except grpc.RpcError as e:
                last = decode_error(e)
                if last.code not in _RETRY:
                    raise last
        raise self._unanswered(last)

    def _leader(self, topic, partition):
        t = self.topic(topic)
        leader = t.partitions[partition].leader_id if partition < len(t.partitions) else 0
        return self._nodes.get(leader, "") if leader else ""

    def _learn_leader(self, hint):
        """Takes a NotLeader hint into the cache unless it is older (lower term) than the leader cached."""
        t = self._topics.get(hint.topic)
        if hint.leader_id == 0 or t is None or hint.partition >= len(t.partitions):
            return
        cached = t.partitions[hint.partition]
        if hint.term >= cached.leader_term:
            cached.leader_id, cached.leader_term = hint.leader_id, hint.term
            if hint.leader_address:
                self._nodes[hint.leader_id] = hint.leader_address

    def call_leader(self, topic, partition, fn, deadline=None):
        """Runs fn(channel) on the partition leader, following NotLeader and retrying with backoff for up to
        timeout_s, or until `deadline` (time.monotonic()) if that comes first; then raises DEADLINE_EXCEEDED."""
        deadline = min(time.monotonic() + self._timeout_s, deadline if deadline is not None else float("inf"))
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
            time.sleep(min(max(floor, random.uniform(delay / 2, delay)), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
            if time.monotonic() >= deadline:
                break
        raise BrookError(grpc.StatusCode.DEADLINE_EXCEEDED, f"gave up on {topic}/{partition}")

    def close(self):
        for ch in self._channels.values():
            ch.close()


class _PartitionState:
    """A partition's idempotence state in one Producer. `lock` is held for the whole of a send, so at most one
    Produce per partition is in flight: the simplest order-keeping design, and a new producer id is never
    pipelined (docs/api.md "Idempotent produce")."""

    def __init__(self, producer_id):
        self.lock = threading.Lock()
        self.producer_id = producer_id
        self.next_sequence = 0  # sequence of the next new batch under producer_id


class _GiveUp(Exception):
    def __init__(self, error, fresh_id):
        super().__init__(str(error))
        self.error = error
        self.fresh_id = fresh_id  # the batch may be written (or the partition lost track): leave producer_id


class Producer(_Client):
    """Synchronous, idempotent producer: one Produce per send()/send_batch(), with a random 64-bit producer id (per
    instance; per partition after a give-up, below) and sequence numbers per partition, so that a resent batch is
    written at most once.

    Thread-safe: sends to the same partition take turns (one Produce in flight per partition); sends to different
    partitions may run in parallel from several threads.

    What a send does on each outcome:
    - Acknowledged, or `duplicate = true` (a resend of a batch the partition already holds): success with the
      offsets the partition reports, the original ones for a duplicate. The sequence moves past the batch.
    - Outcome unknown (the per-attempt deadline passed, CANCELLED, UNAVAILABLE, a broken connection, or any error
      without a WriteOutcome NOT_WRITTEN detail that resending may fix): the SAME request (producer id, sequence,
      records) is sent again, at once to the leader a NotLeader names, else after a backoff (20 ms doubling to 1 s,
      jittered, never below RetryInfo), until it is acknowledged or `delivery_timeout_s` passes.
    - Certainly not written (not_written()): INVALID_ARGUMENT, NOT_FOUND (after one metadata refresh), or
      FAILED_PRECONDITION with OffsetMismatch, raise at once and the sequence is not used: the next send reuses
      it, so no gap appears. A SequenceError also raises at once, and the partition starts over under a new
      producer id (the partition lost track of this one).
    - Given up (delivery timeout, or another final error such as FAILED_PRECONDITION without details) after an
      attempt whose outcome is unknown: raises (DEADLINE_EXCEEDED for the timeout), and the partition moves to a
      NEW producer id starting at sequence 0, because the batch may still be written; the old sequence is never
      used for another record. If every attempt was certainly not written, the sequence is kept.
    """

    MAX_ATTEMPTS = 1000  # per send, besides the delivery timeout
    # The backoff before a resend ends at least this long before the delivery timeout (or the request timeout,
    # when shorter), and a send gives up at once when less is left; a resend that finds less than half of it left
    # (after a slow leader look-up) gives up too. An attempt with a few milliseconds would time out on the client,
    # and its unknown outcome would replace what the earlier attempts made certain ("it was not written").
    MIN_ATTEMPT_S = 0.1

    def __init__(self, bootstrap, timeout_s=20.0, delivery_timeout_s=30.0, request_timeout_s=10.0,
                 compression=None, **security):
        """timeout_s bounds metadata look-ups; delivery_timeout_s bounds a send, retries included;
        request_timeout_s bounds each attempt. compression: None (default), "lz4" or "zstd": each send compresses
        its batch once (a batch over MAX_UNCOMPRESSED_BATCH_BYTES serialized goes plain) and the partition stores
        and serves it compressed (docs/api.md "Compression"); needs python3-lz4 and python3-zstandard (ValueError
        otherwise). security: tls_ca_file, tls_cert_file, tls_key_file, token (ChannelSecurity)."""
        if compression is not None and compression not in COMPRESSION_CODECS:
            raise ValueError(f"compression must be None, 'lz4' or 'zstd', not {compression!r}")
        if compression is not None and not CAN_DECOMPRESS:
            raise ValueError(f"compression {compression!r} needs python3-lz4 and python3-zstandard "
                             "(pip: lz4, zstandard)")
        self.compression = compression
        # What the sends so far carried, each batch counted once (when it is first sent, whatever its outcome): how
        # well compression did. The byte counts are kept only with compression on.
        self.batches_sent = 0
        self.compressed_batches = 0
        self.uncompressed_bytes = 0  # the batches' records serialized
        self.sent_bytes = 0  # the compressed bytes, or the serialized records of a batch sent plain
        super().__init__(bootstrap, timeout_s, **security)
        self.delivery_timeout_s = delivery_timeout_s
        self.request_timeout_s = request_timeout_s
        self.producer_id = new_producer_id()  # every partition starts under it
        self._state_lock = threading.Lock()
        self._partitions = {}  # (topic, partition) -> _PartitionState, guarded by _state_lock
        self._round_robin = 0

    def partition_producer_id(self, topic, partition):
        """The producer id the partition's next batch goes out under: `producer_id`, or a newer one after a send
        to the partition was given up."""
        return self._state(topic, partition).producer_id

    def partition_for(self, topic, key):
        count = self.topic(topic).partition_count
        if key:
            return fnv1a32(key) % count
        with self._state_lock:
            self._round_robin += 1
            return (self._round_robin - 1) % count

    def send_batch(self, topic, partition, records):
        """records: list of (key, value) or (key, value, headers), headers as for send(); a value of None makes
        the record a tombstone that deletes its key (docs/api.md "Compaction"). Returns the base offset of the
        batch; the records have consecutive offsets. Raises BrookError (see the class for when)."""
        batch = [records_pb2.Record(key=r[0] or b"", value=r[1] or b"", tombstone=r[1] is None,
                                    headers=_headers(r[2] if len(r) > 2 else None))
                 for r in records]
        # Compressed once: every attempt resends the same bytes.
        packed = compress_batch(self.compression, batch) if self.compression is not None and batch else None
        payload = {"records": batch} if packed is None else \
            {k: v for k, v in packed.items() if not k.startswith("_")}
        self._count_batch(batch, packed)
        state = self._state(topic, partition)
        with state.lock:
            for attempt in range(2):
                request = log_pb2.ProduceRequest(topic=topic, partition=partition, producer_id=state.producer_id,
                                                 sequence=state.next_sequence, **payload)
                try:
                    response = self._deliver(request)
                except _GiveUp as g:
                    if g.error.unknown_producer is not None and attempt == 0:
                        # The partition forgot this producer id (idle for a day, or among too many producers):
                        # nothing was written. Start over under a new id, from sequence 0, once.
                        state.producer_id, state.next_sequence = new_producer_id(), 0
                        continue
                    if g.fresh_id:
                        state.producer_id, state.next_sequence = new_producer_id(), 0
                    raise g.error from None
                state.next_sequence += len(batch)
                return response.base_offset

    def send(self, topic, value, key=None, partition=None, headers=None):
        """headers: [(str, bytes | str)] or {str: bytes | str}. Returns (partition, offset)."""
        if partition is None:
            partition = self.partition_for(topic, key)
        return partition, self.send_batch(topic, partition, [(key, value, headers)])

    def send_tombstone(self, topic, key, partition=None):
        """Writes a tombstone for `key`: on a compacted topic it deletes the key. Returns (partition, offset)."""
        if not key:
            raise ValueError("a tombstone needs a key")
        return self.send(topic, None, key=key, partition=partition)

    def _count_batch(self, batch, packed):
        with self._state_lock:
            self.batches_sent += 1
            if self.compression is None:
                return  # sizes are counted only when compressing: measuring them costs a copy of every record
            if packed is None:
                size = records_pb2.RecordList(records=batch).ByteSize()
                self.uncompressed_bytes += size
                self.sent_bytes += size
            else:
                self.compressed_batches += 1
                self.uncompressed_bytes += packed["_uncompressed_bytes"]
                self.sent_bytes += len(packed["compressed_records"])

    def _state(self, topic, partition):
        with self._state_lock:
            return self._partitions.setdefault((topic, partition), _PartitionState(self.producer_id))

    def _deliver(self, request):
        """Sends `request` until it is acknowledged; raises _GiveUp otherwise."""
        topic, partition = request.topic, request.partition
        deadline = time.monotonic() + self.delivery_timeout_s
        backoff = _Backoff()
        maybe_written = False  # an attempt failed with an unknown outcome
        retried_not_found = False
        hinted, hints_in_a_row, last = "", 0, None
        min_attempt = min(self.MIN_ATTEMPT_S, self.request_timeout_s)
        for attempt in range(self.MAX_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            address, hinted, floor = hinted, "", 0.0
            if not address:
                try:
                    address = self._leader(topic, partition)
                    if not address:
                        self.refresh(topic, timeout_s=min(3.0, remaining))
                        address = self._leader(topic, partition)
                except BrookError as e:  # NOT_FOUND: no such topic; else no node answered
                    if e.code == grpc.StatusCode.NOT_FOUND:
                        raise _GiveUp(e, maybe_written)
                    last = e
            if address:
                left = deadline - time.monotonic()
                if left <= 0 or (attempt > 0 and left < min_attempt / 2):
                    break
                timeout = min(self.request_timeout_s, left)
                try:
                    return log_pb2_grpc.LogStub(self._channel(address)).Produce(request, timeout=timeout)
                except grpc.RpcError as rpc_error:
                    err = last = decode_error(rpc_error)
                maybe_written = maybe_written or not not_written(err)
                if err.code == grpc.StatusCode.NOT_FOUND and not retried_not_found:
                    retried_not_found = True  # the topic may have been recreated: look it up again, once
                    self._topics.pop(topic, None)
                    continue
                if err.code in _FINAL:
                    raise _GiveUp(err, maybe_written or err.sequence_error is not None)
                hint = err.not_leader
                if hint is not None and hint.leader_address and hint.leader_address != address and \
                        hints_in_a_row < 3:
                    self._learn_leader(hint)
                    hinted, hints_in_a_row = hint.leader_address, hints_in_a_row + 1
                    continue  # follow at once
                self._topics.pop(topic, None)  # ask the cluster again who leads
                floor = (err.retry_delay_ms or 0) / 1000.0
            hints_in_a_row = 0
            left = deadline - time.monotonic()
            if left < min_attempt:
                break  # no room for another attempt
            time.sleep(min(backoff.next(floor), left - min_attempt))
        raise _GiveUp(BrookError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"{topic}/{partition}: not acknowledged within the delivery timeout "
                                 f"({self.delivery_timeout_s:g} s); "
                                 f"{'it may still be written' if maybe_written else 'it was not written'}; "
                                 f"last error: {last}"), maybe_written)


class Consumer(_Client):
    """Reads all (or the given) partitions of a topic with long-poll Fetch.

    With lz4 and zstandard installed (CAN_DECOMPRESS) it asks for compressed batches as stored and decompresses
    them itself, checking each batch's CRC-32C (a mismatch raises BrookError with DATA_LOSS and the position stays
    before the batch); otherwise the node decompresses for it. A batch served from its middle is skipped up to the
    position."""

    def __init__(self, bootstrap, topic, partitions=None, timeout_s=20.0, accept_compressed=None, **security):
        """security: tls_ca_file, tls_cert_file, tls_key_file, token (ChannelSecurity)."""
        super().__init__(bootstrap, timeout_s, **security)
        self.topic_name = topic
        count = self.topic(topic).partition_count
        self.positions = {p: 0 for p in (partitions if partitions is not None else range(count))}
        self.gaps = []
        self.accept_compressed = CAN_DECOMPRESS if accept_compressed is None else accept_compressed
        self.compressed_batches_read = 0

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
        partition. Gaps (trimmed records) are appended to self.gaps and skipped; offsets key compaction removed
        (resp.compacted) are skipped silently; a tombstone comes as a Record with tombstone=True."""
        out = []
        parts = list(self.positions)
        for i, p in enumerate(parts):
            wait_ms = int(timeout_s * 1000) if (i == len(parts) - 1 and not out) else 0
            try:
                fetched = fetch_partition(self, self.topic_name, p, self.positions[p], wait_ms,
                                          self.accept_compressed)
            except BrookError as e:
                if e.code == grpc.StatusCode.DATA_LOSS and out:
                    return out  # hand out what was read; the position stays, so the next poll meets this again
                raise
            if fetched.gap is not None:
                self.gaps.append((p,) + fetched.gap)
            self.compressed_batches_read += fetched.compressed_batches
            out.extend(fetched.records)
            self.positions[p] = fetched.next_offset
        return out


@dataclass
class Fetched:
    records: list            # Records at or past the position asked for, in offset order
    next_offset: int         # the position after them (never below the one asked for)
    gap: tuple = None        # (start_offset, end_offset) of a trimmed range that was skipped, or None
    compressed_batches: int = 0


def fetch_partition(client, topic, partition, position, wait_ms, accept_compressed, deadline=None):
    """One Fetch of topic/partition from `position` at the partition leader (client: a _Client), long-polling up
    to wait_ms. Compressed batches are checked and expanded here (BrookError DATA_LOSS for a damaged one).
    `deadline` (time.monotonic(), optional) bounds the whole call, retries included (DEADLINE_EXCEEDED after)."""
    req = log_pb2.FetchRequest(topic=topic, partition=partition, offset=position, max_wait_ms=wait_ms,
                               accept_compressed=accept_compressed)

    def attempt(ch):
        timeout = wait_ms / 1000 + 5
        if deadline is not None:
            timeout = max(0.01, min(timeout, deadline - time.monotonic()))
        return log_pb2_grpc.LogStub(ch).Fetch(req, timeout=timeout)

    resp = client.call_leader(topic, partition, attempt, deadline)
    gap = (resp.gap.start_offset, resp.gap.end_offset) if resp.HasField("gap") else None
    stored = list(resp.records)
    for batch in resp.compressed_batches:
        stored.extend(expand_batch(batch, position))
    stored.sort(key=lambda r: r.offset)
    records = [Record(partition, r.offset, r.key, r.value, r.timestamp_ms, [(h.key, h.value) for h in r.headers],
                      r.tombstone, topic)
               for r in stored if r.offset >= position]
    return Fetched(records, max(position, resp.next_offset), gap, len(resp.compressed_batches))


def __getattr__(name):
    # The group consumer lives in its own module (brookgroup.py), which imports this one: loaded on first use.
    if name == "GroupConsumer":
        from brookgroup import GroupConsumer
        return GroupConsumer
    raise AttributeError(f"module 'brookclient' has no attribute '{name}'")
