#!/usr/bin/python3
"""A gRPC proxy for tests that loses Produce answers after the leader has written the batch.

Forwards every call it receives to one brookd (--target) as raw bytes (a generic handler with identity
serializers: nothing is decoded), with the caller's metadata and remaining deadline, and passes the answer back,
errors included with their trailers (so NotLeader and RetryInfo details reach the client). For the first
--drop-produce Produce calls that the target answers with success (or one in --drop-every of them), it instead
fails the call to the client with the next code of --fail-with (cycled), without details: the batch is written
and committed, but the client never hears it. That is the case an idempotent producer must get right: resend with the same producer id and sequence,
never reuse the sequence for another record.

Run one proxy per brookd and start each brookd with --advertise_client_addr set to its proxy's --listen address, so
that metadata and NotLeader hints send clients through the proxies.

    drop_answers_proxy.py --listen=127.0.0.1:7111 --target=127.0.0.1:7101 --drop-produce=5 \
        --fail-with=DEADLINE_EXCEEDED,UNAVAILABLE

Prints "listening on ADDRESS" once it accepts calls and one line "dropped produce answer K/N (CODE)" per lost
answer, flushed at once (tests wait on and count these lines). Exits by itself after --max-seconds.
"""
import argparse
import sys
import threading
from concurrent import futures

import grpc

PRODUCE = "/brook.v1.Log/Produce"
SERVER_STREAMING = {"/brook.v1.Log/Subscribe"}
# Metadata that gRPC sets itself on the forwarded call; passing it on would duplicate or contradict it.
_RESERVED = ("grpc-", ":")


_MESSAGE_LIMITS = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]


def _forwardable(metadata):
    return [(k, v) for k, v in (metadata or ()) if not k.startswith(_RESERVED) and k != "user-agent"]


def _error_trailers(err):
    # Keep grpc-status-details-bin (the brook.v1.ErrorStatus) and any application trailer.
    return [(k, v) for k, v in (err.trailing_metadata() or ())
            if k == "grpc-status-details-bin" or not k.startswith(_RESERVED)]


class DropAnswersProxy(grpc.GenericRpcHandler):
    def __init__(self, target, drop_produce, drop_every, fail_with):
        self._channel = grpc.insecure_channel(target, options=_MESSAGE_LIMITS)
        self._fail_with = fail_with
        self._every = drop_every
        self._total = drop_produce
        self._lock = threading.Lock()
        self._answered = 0  # successful Produce answers seen, guarded by _lock
        self._dropped = 0   # guarded by _lock

    def service(self, handler_call_details):
        method = handler_call_details.method
        if method in SERVER_STREAMING:
            return grpc.unary_stream_rpc_method_handler(lambda req, ctx: self._stream(method, req, ctx))
        return grpc.unary_unary_rpc_method_handler(lambda req, ctx: self._unary(method, req, ctx))

    def _timeout(self, context):
        remaining = context.time_remaining()
        return None if remaining is None or remaining > 3600 else max(remaining, 0.001)

    def _unary(self, method, request, context):
        call = self._channel.unary_unary(method)  # no serializers: bytes in, bytes out
        try:
            response, _ = call.with_call(request, timeout=self._timeout(context),
                                         metadata=_forwardable(context.invocation_metadata()))
        except grpc.RpcError as err:
            context.set_trailing_metadata(_error_trailers(err))
            context.abort(err.code(), err.details() or "")
        if method == PRODUCE:
            code = self._take_drop()
            if code is not None:
                context.abort(code, "answer dropped by drop_answers_proxy (the batch was written)")
        return response

    def _stream(self, method, request, context):
        call = self._channel.unary_stream(method)
        responses = call(request, timeout=self._timeout(context),
                         metadata=_forwardable(context.invocation_metadata()))
        context.add_callback(responses.cancel)
        try:
            for response in responses:
                yield response
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED and not context.is_active():
                return
            context.set_trailing_metadata(_error_trailers(err))
            context.abort(err.code(), err.details() or "")

    def _take_drop(self):
        with self._lock:
            self._answered += 1
            if self._dropped >= self._total or (self._answered - 1) % self._every != 0:
                return None
            code = self._fail_with[self._dropped % len(self._fail_with)]
            self._dropped += 1
            print(f"dropped produce answer {self._dropped}/{self._total} ({code.name})", flush=True)
            return code


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="host:port to serve on (loopback)")
    ap.add_argument("--target", required=True, help="host:port of the brookd client API to forward to")
    ap.add_argument("--drop-produce", type=int, default=0,
                    help="lose the answers of this many successful Produce calls, the first ones (default 0)")
    ap.add_argument("--drop-every", type=int, default=1,
                    help="drop one in this many successful Produce answers (1: every one) until --drop-produce "
                         "are dropped; 2 lets each dropped batch's resend through (default 1)")
    ap.add_argument("--fail-with", default="UNAVAILABLE",
                    help="comma-separated status codes the dropped calls fail with, in turn: UNAVAILABLE, "
                         "DEADLINE_EXCEEDED or CANCELLED (default UNAVAILABLE)")
    ap.add_argument("--max-seconds", type=float, default=300, help="exit after this long (default 300)")
    args = ap.parse_args()
    allowed = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"}
    names = [c.strip().upper() for c in args.fail_with.split(",") if c.strip()]
    if not names or any(n not in allowed for n in names):
        ap.error(f"--fail-with wants codes among {sorted(allowed)}, got '{args.fail_with}'")
    if args.drop_every < 1:
        ap.error("--drop-every must be at least 1")
    proxy = DropAnswersProxy(args.target, args.drop_produce, args.drop_every, [grpc.StatusCode[n] for n in names])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), handlers=[proxy],
                         options=_MESSAGE_LIMITS + [("grpc.so_reuseport", 0)])
    if server.add_insecure_port(args.listen) == 0:
        print(f"cannot listen on {args.listen}", file=sys.stderr, flush=True)
        return 1
    server.start()
    print(f"listening on {args.listen}", flush=True)
    server.wait_for_termination(timeout=args.max_seconds)
    server.stop(grace=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
