#!/usr/bin/python3
"""The Python Producer's rules for each outcome of a send, against in-process fake leaders that keep the
idempotence rules (a resent batch is answered with its original offsets) and fail calls on a script.

Run: /usr/bin/python3 client/python/producer_rules_test.py (ctest: client_python_producer_test, label unit).
"""
import os
import sys
import threading
import time
import unittest
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brookclient  # noqa: E402
import grpc  # noqa: E402
from brook.v1 import admin_pb2, admin_pb2_grpc, errors_pb2, log_pb2, log_pb2_grpc, records_pb2  # noqa: E402

TOPIC = "t"
SC = grpc.StatusCode


def detail(message):
    from google.protobuf import any_pb2
    a = any_pb2.Any()
    a.Pack(message)
    return a


class Fail:
    """One scripted failure: the call fails with `code` and `details` (brook.v1 messages), before the batch is
    applied (written=False) or after (written=True: the leader wrote it, the answer is lost), after `delay_s`."""

    def __init__(self, code, details=(), written=False, delay_s=0.0):
        self.code, self.details, self.written, self.delay_s = code, list(details), written, delay_s


def records_of(req):
    """The Record messages of a ProduceRequest, plain or compressed (checked as the leader checks them)."""
    if req.compression == records_pb2.COMPRESSION_NONE:
        return list(req.records)
    assert not req.records, "a compressed batch carries no plain records"
    assert brookclient.crc32c(req.compressed_records) == req.compressed_crc32c, "CRC-32C mismatch"
    plain = brookclient._decompress(req.compression, req.compressed_records, brookclient.MAX_UNCOMPRESSED_BATCH_BYTES)
    records = list(records_pb2.RecordList.FromString(plain).records)
    assert len(records) == req.record_count, f"says {req.record_count}, holds {len(records)}"
    return records


class FakeLog:
    """The partition: records, and per producer id the batches written (sequence -> base offset). Shared by the
    fake nodes; every Produce request is remembered in `requests` as (node, producer_id, sequence, keys)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.batches = {}   # (producer_id, sequence) -> base offset
        self.requests = []  # guarded by lock
        self.compressed = []  # (compression, compressed_records) of every Produce request; guarded by lock
        self.script = []    # Fail entries consumed one per call (any node); guarded by lock

    def apply(self, req):
        with self.lock:
            key = (req.producer_id, req.sequence)
            records = records_of(req)
            if key in self.batches:
                return log_pb2.ProduceResponse(base_offset=self.batches[key], record_count=len(records),
                                               duplicate=True)
            base = len(self.records)
            self.records.extend(records)
            self.batches[key] = base
            return log_pb2.ProduceResponse(base_offset=base, record_count=len(records))


class FakeNode(log_pb2_grpc.LogServicer, admin_pb2_grpc.AdminServicer):
    def __init__(self, log, name, server_credentials=None):
        self.log, self.name = log, name
        self.leader_address = ""  # set by the test: the address GetMetadata names as leader
        self.authorization = []   # the `authorization` metadata of every call, in order ("" when absent)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        log_pb2_grpc.add_LogServicer_to_server(self, self.server)
        admin_pb2_grpc.add_AdminServicer_to_server(self, self.server)
        if server_credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", server_credentials)
        self.address = f"127.0.0.1:{self.port}"
        self.server.start()

    def note(self, context):
        with self.log.lock:
            self.authorization.append(dict(context.invocation_metadata()).get("authorization", ""))

    def GetMetadata(self, request, context):
        self.note(context)
        return admin_pb2.GetMetadataResponse(
            nodes=[admin_pb2.Node(id=1, client_address=self.leader_address)],
            topics=[admin_pb2.Topic(name=TOPIC, partition_count=1, partitions=[
                admin_pb2.PartitionInfo(partition=0, leader_id=1, leader_term=1)])])

    def Produce(self, request, context):
        self.note(context)
        with self.log.lock:
            self.log.requests.append((self.name, request.producer_id, request.sequence,
                                      [r.key for r in records_of(request)]))
            self.log.compressed.append((request.compression, request.compressed_records))
            fail = self.log.script.pop(0) if self.log.script else None
        if fail is None:
            return self.log.apply(request)
        if fail.written:
            self.log.apply(request)
        time.sleep(fail.delay_s)
        if fail.details:
            status = errors_pb2.ErrorStatus(code=fail.code.value[0], message="scripted",
                                            details=[detail(d) for d in fail.details])
            context.set_trailing_metadata([("grpc-status-details-bin", status.SerializeToString())])
        context.abort(fail.code, "scripted")


def not_written():
    return errors_pb2.WriteOutcome(outcome=errors_pb2.WriteOutcome.NOT_WRITTEN)


class ProducerRulesTest(unittest.TestCase):
    def setUp(self):
        self.log = FakeLog()
        self.node = FakeNode(self.log, "a")
        self.node.leader_address = self.node.address
        self.producer = brookclient.Producer(self.node.address, delivery_timeout_s=5.0, request_timeout_s=2.0)
        self.producer.topic(TOPIC)  # connected and routed: a short delivery timeout below is all spent on sends

    def tearDown(self):
        self.producer.close()
        self.node.server.stop(None)

    def send(self, key, **headers):
        return self.producer.send(TOPIC, b"value of " + key, key=key, partition=0, headers=headers or None)

    def requests(self):
        with self.log.lock:
            return list(self.log.requests)

    def test_a_lost_answer_is_resent_with_the_same_id_and_sequence_and_reports_the_original_offset(self):
        self.log.script = [Fail(SC.DEADLINE_EXCEEDED, written=True), Fail(SC.UNAVAILABLE, written=True),
                           Fail(SC.CANCELLED, written=True)]
        self.assertEqual(self.send(b"r0", trace="1"), (0, 0))
        self.assertEqual(self.send(b"r1"), (0, 1), "the next record gets the next sequence and its own offset")
        pid = self.producer.producer_id
        self.assertEqual([r[1:] for r in self.requests()],
                         [(pid, 0, [b"r0"])] * 4 + [(pid, 1, [b"r1"])])
        self.assertEqual([r.key for r in self.log.records], [b"r0", b"r1"], "each record once")
        self.assertEqual([(h.key, h.value) for h in self.log.records[0].headers], [("trace", b"1")])

    def test_a_compressing_producer_sends_each_batch_compressed_once_and_resends_the_same_bytes(self):
        for codec, enum in (("lz4", records_pb2.COMPRESSION_LZ4), ("zstd", records_pb2.COMPRESSION_ZSTD)):
            with self.subTest(codec=codec):
                producer = brookclient.Producer(self.node.address, delivery_timeout_s=5.0, request_timeout_s=2.0,
                                                compression=codec)
                del self.log.requests[:], self.log.compressed[:], self.log.records[:]
                self.log.batches.clear()
                self.log.script = [Fail(SC.UNAVAILABLE, written=True)]  # the answer is lost: resent
                value = b'{"order": 1, "status": "shipped", "note": "' + b"x" * 400 + b'"}'
                batch = [(b"k%d" % i, value, [("n", b"%d" % i)]) for i in range(20)] + [(b"gone", None)]
                self.assertEqual(producer.send_batch(TOPIC, 0, batch), 0)
                sent = self.log.compressed
                self.assertEqual(len(sent), 2)
                self.assertEqual(sent[0][0], enum)
                self.assertEqual(sent[0], sent[1], "the resend carries the same compressed bytes")
                self.assertEqual([r[3] for r in self.requests()], [[b"k%d" % i for i in range(20)] + [b"gone"]] * 2)
                self.assertEqual(len(self.log.records), 21, "written once")
                self.assertEqual(self.log.records[3].headers[0].value, b"3")
                self.assertTrue(self.log.records[20].tombstone)
                self.assertEqual((producer.batches_sent, producer.compressed_batches), (1, 1))
                self.assertLess(producer.sent_bytes * 5, producer.uncompressed_bytes, "repetitive JSON shrinks")
                producer.close()

    def test_unknown_codecs_are_refused(self):
        with self.assertRaises(ValueError) as refused:
            brookclient.Producer(self.node.address, compression="gzip")
        self.assertIn("'lz4' or 'zstd'", str(refused.exception))

    def test_not_written_until_the_delivery_timeout_keeps_the_sequence(self):
        self.producer.delivery_timeout_s = 1.0
        self.log.script = [Fail(SC.UNAVAILABLE, [not_written()])] * 1000
        with self.assertRaises(brookclient.BrookError) as failed:
            self.send(b"r0")
        self.assertEqual(failed.exception.code, SC.DEADLINE_EXCEEDED)
        self.assertIn("it was not written", failed.exception.message)
        self.log.script = []
        self.assertEqual(self.send(b"r1"), (0, 0))
        pid = self.producer.producer_id
        self.assertGreaterEqual(len(self.requests()), 3, "resent while not written")
        self.assertEqual({r[1:3] for r in self.requests()}, {(pid, 0)}, "r1 took the sequence r0 did not use")

    def test_no_resend_starts_with_too_little_of_the_delivery_timeout_left_to_learn_its_outcome(self):
        # RetryInfo asks for a wait that ends 10 ms before the delivery timeout, and every answer takes 40 ms. A
        # resend started after that wait would time out on the client and turn "not written" into "may still be".
        self.producer.delivery_timeout_s = 1.0
        self.log.script = [Fail(SC.UNAVAILABLE, [not_written(), errors_pb2.RetryInfo(retry_delay_ms=990)])] + \
            [Fail(SC.UNAVAILABLE, [not_written()], delay_s=0.04)] * 10
        start = time.monotonic()
        with self.assertRaises(brookclient.BrookError) as failed:
            self.send(b"r0")
        self.assertEqual(failed.exception.code, SC.DEADLINE_EXCEEDED)
        self.assertIn("it was not written", failed.exception.message)
        self.assertLessEqual(time.monotonic() - start, 1.25)
        self.assertEqual(len(self.requests()), 2, "one resend, in time to hear its answer")
        self.assertEqual(self.requests()[1][1:3], (self.producer.producer_id, 0))

    def test_a_refused_batch_fails_at_once_and_keeps_the_sequence(self):
        for code, details in ((SC.INVALID_ARGUMENT, []), (SC.NOT_FOUND, []),
                              (SC.FAILED_PRECONDITION, [errors_pb2.OffsetMismatch()])):
            with self.subTest(code=code):
                del self.log.requests[:]
                self.log.script = [Fail(code, details)] * 2  # NOT_FOUND is looked up again once
                with self.assertRaises(brookclient.BrookError) as failed:
                    self.send(b"refused")
                self.assertEqual(failed.exception.code, code)
                self.assertEqual(len(self.requests()), 2 if code == SC.NOT_FOUND else 1, "not resent")
                self.log.script = []
        self.assertEqual(self.send(b"r1"), (0, 0))
        self.assertEqual(self.requests()[-1][1:3], (self.producer.producer_id, 0))

    def test_an_unknown_outcome_until_the_delivery_timeout_moves_the_partition_to_a_new_producer_id(self):
        self.producer.delivery_timeout_s = 1.0
        self.log.script = [Fail(SC.UNAVAILABLE, [not_written()]), Fail(SC.DEADLINE_EXCEEDED, written=True)] + \
            [Fail(SC.UNAVAILABLE, [not_written()])] * 1000
        with self.assertRaises(brookclient.BrookError) as failed:
            self.send(b"r0")
        self.assertEqual(failed.exception.code, SC.DEADLINE_EXCEEDED)
        self.assertIn("it may still be written", failed.exception.message)
        old = self.producer.producer_id
        self.assertEqual({r[1:3] for r in self.requests()}, {(old, 0)}, "every attempt the same id and sequence")
        self.log.script = []
        self.assertEqual(self.send(b"r1"), (0, 1), "r1 is written after r0, not answered as its duplicate")
        new_id, sequence = self.requests()[-1][1:3]
        self.assertNotEqual(new_id, old)
        self.assertEqual(sequence, 0)
        self.assertEqual(self.producer.partition_producer_id(TOPIC, 0), new_id)
        self.assertEqual([r.key for r in self.log.records], [b"r0", b"r1"])

    def test_a_sequence_error_fails_at_once_and_moves_to_a_new_producer_id(self):
        self.log.script = [Fail(SC.FAILED_PRECONDITION, [errors_pb2.SequenceError(expected_sequence=5)])]
        with self.assertRaises(brookclient.BrookError) as failed:
            self.send(b"r0")
        self.assertEqual(failed.exception.code, SC.FAILED_PRECONDITION)
        self.assertEqual(self.send(b"r1"), (0, 0))
        (_, first_id, _, _), (_, second_id, second_seq, _) = self.requests()
        self.assertNotEqual(second_id, first_id)
        self.assertEqual(second_seq, 0)

    def test_not_leader_is_followed_at_once_with_the_same_sequence(self):
        other = FakeNode(self.log, "b")
        try:
            hint = errors_pb2.NotLeader(topic=TOPIC, partition=0, leader_id=2, leader_address=other.address, term=2)
            self.log.script = [Fail(SC.UNAVAILABLE, [hint])]
            self.assertEqual(self.send(b"r0"), (0, 0))
            pid = self.producer.producer_id
            self.assertEqual([(r[0],) + r[1:3] for r in self.requests()], [("a", pid, 0), ("b", pid, 0)])
        finally:
            other.server.stop(None)

    def test_retry_info_is_honoured(self):
        self.log.script = [Fail(SC.RESOURCE_EXHAUSTED, [errors_pb2.RetryInfo(retry_delay_ms=300)])]
        start = time.monotonic()
        self.assertEqual(self.send(b"r0"), (0, 0))
        self.assertGreaterEqual(time.monotonic() - start, 0.3)

    def test_sends_to_one_partition_from_several_threads_take_turns(self):
        with futures.ThreadPoolExecutor(max_workers=4) as pool:
            offsets = sorted(pool.map(lambda i: self.send(b"k%d" % i)[1], range(20)))
        self.assertEqual(offsets, list(range(20)))
        self.assertEqual(sorted(r[2] for r in self.requests()), list(range(20)), "one sequence per record")


class TokenAndTlsTest(unittest.TestCase):
    """The token goes with every call as `authorization: Bearer <token>`, over plaintext (per-call metadata) and
    over TLS (call credentials); UNAUTHENTICATED and PERMISSION_DENIED end a send at once."""

    def setUp(self):
        self.log = FakeLog()
        self.nodes, self.clients = [], []
        self._env = {k: os.environ.pop(k, None) for k in
                     ("BROOK_TOKEN", "BROOK_TLS_CA", "BROOK_TLS_CERT", "BROOK_TLS_KEY")}

    def tearDown(self):
        for c in self.clients:
            c.close()
        for n in self.nodes:
            n.server.stop(None)
        for k, v in self._env.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v

    def node(self, credentials=None):
        n = FakeNode(self.log, "a", credentials)
        n.leader_address = n.address
        self.nodes.append(n)
        return n

    def producer(self, address, **options):
        p = brookclient.Producer(address, delivery_timeout_s=5.0, request_timeout_s=2.0, **options)
        self.clients.append(p)
        return p

    def test_the_token_goes_with_every_plaintext_call(self):
        n = self.node()
        p = self.producer(n.address, token="s3cret-token")
        for i in range(3):
            self.assertEqual(p.send(TOPIC, b"v", partition=0), (0, i))
        self.assertEqual(n.authorization, ["Bearer s3cret-token"] * 4, "GetMetadata and three Produce calls")

    def test_the_token_comes_from_brook_token_and_an_empty_option_turns_it_off(self):
        n = self.node()
        os.environ["BROOK_TOKEN"] = "from-env"
        self.producer(n.address).send(TOPIC, b"v", partition=0)
        self.producer(n.address, token="").send(TOPIC, b"v", partition=0)
        self.assertEqual(n.authorization, ["Bearer from-env"] * 2 + [""] * 2)

    def test_unauthenticated_and_permission_denied_are_never_retried(self):
        n = self.node()
        p = self.producer(n.address, token="wrong")
        p.topic(TOPIC)
        for code in (SC.UNAUTHENTICATED, SC.PERMISSION_DENIED):
            self.log.script = [Fail(code)]
            before = len(self.log.requests)
            start = time.monotonic()
            with self.assertRaises(brookclient.BrookError) as caught:
                p.send(TOPIC, b"v", partition=0)
            self.assertEqual(caught.exception.code, code)
            self.assertEqual(len(self.log.requests) - before, 1, f"{code} was sent again")
            self.assertLess(time.monotonic() - start, 1.0)

    def test_bad_files_and_tokens_are_clear_errors(self):
        for options, message in [
                ({"tls_ca_file": "/nonexistent/ca.pem"},
                 "tls_ca_file: TLS CA file '/nonexistent/ca.pem' cannot be read"),
                ({"tls_cert_file": "c.pem", "tls_key_file": "c.key"}, "without a CA"),
                ({"token": "two words"}, "token: "),
                ({"token": "line\n"}, "token: ")]:
            with self.assertRaises(ValueError) as caught:
                brookclient.Producer("127.0.0.1:1", **options)
            self.assertIn(message, str(caught.exception))
        os.environ["BROOK_TLS_CA"] = "/nonexistent/env-ca.pem"
        with self.assertRaises(ValueError) as caught:
            brookclient.Producer("127.0.0.1:1")
        self.assertIn("'/nonexistent/env-ca.pem' cannot be read", str(caught.exception))

    def test_tls_with_a_client_certificate_and_the_token(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as certs:
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "make-certs.sh")
            subprocess.run(["bash", script, certs, "1", "127.0.0.1", "app"], check=True, capture_output=True)

            def read(name):
                with open(os.path.join(certs, name), "rb") as f:
                    return f.read()
            server_credentials = grpc.ssl_server_credentials([(read("node-1.key"), read("node-1.pem"))],
                                                             root_certificates=read("ca.pem"),
                                                             require_client_auth=True)
            n = self.node(server_credentials)
            p = self.producer(n.address, tls_ca_file=os.path.join(certs, "ca.pem"),
                              tls_cert_file=os.path.join(certs, "client-app.pem"),
                              tls_key_file=os.path.join(certs, "client-app.key"), token="over-tls")
            self.assertEqual(p.send(TOPIC, b"v", partition=0), (0, 0))
            self.assertEqual(n.authorization, ["Bearer over-tls"] * 2)
            # Plaintext to the TLS node: refused, and the error says what to do.
            with self.assertRaises(brookclient.BrookError) as caught:
                self.producer(n.address, timeout_s=2.0).topic(TOPIC)
            self.assertEqual(caught.exception.code, SC.UNAVAILABLE)
            self.assertIn("tls_ca_file", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
