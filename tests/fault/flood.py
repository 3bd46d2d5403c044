#!/usr/bin/python3
"""Floods a brookd client port, for tests/fault/flood_test.cc. Every mode is bounded in time and count.

  flood.py rapid-reset HOST:PORT SECONDS MAX_STREAMS
      One HTTP/2 connection that opens a stream (HEADERS of a real gRPC call) and resets it at once, as fast as it
      can (the "rapid reset" attack, CVE-2023-44487). Reconnects when the server closes the connection.
  flood.py idle HOST:PORT COUNT SECONDS
      Opens COUNT TCP connections that never send a byte, holds them SECONDS, then closes them.
  flood.py aged HOST:PORT SECONDS
      One HTTP/2 connection that makes a gRPC call (GetLimits) every 100 ms, so it is never idle, until the server
      sends GOAWAY or SECONDS pass; prints when the GOAWAY came.

Prints one line of figures: streams (or connections) opened, connections the server closed, seconds.
Needs Debian's python3-h2.
"""

import socket
import sys
import time


def rapid_reset(target, seconds, max_streams):
    import h2.config
    import h2.connection
    import h2.exceptions

    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    opened = closed = 0
    headers = [(":method", "POST"), (":scheme", "http"), (":path", "/brook.v1.Admin/GetLimits"),
               (":authority", target), ("content-type", "application/grpc"), ("te", "trailers")]
    while time.monotonic() < deadline and opened < max_streams:
        try:
            sock = socket.create_connection((host, int(port)), timeout=2)
        except OSError:
            time.sleep(0.05)
            continue
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        sock.setblocking(False)
        try:
            while time.monotonic() < deadline and opened < max_streams:
                for _ in range(100):
                    sid = conn.get_next_available_stream_id()
                    conn.send_headers(sid, headers, end_stream=False)
                    conn.reset_stream(sid)
                    opened += 1
                sock.setblocking(True)
                sock.sendall(conn.data_to_send())
                sock.setblocking(False)
                try:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    conn.receive_data(data)
                    sock.setblocking(True)
                    sock.sendall(conn.data_to_send())
                    sock.setblocking(False)
                except BlockingIOError:
                    pass
        except (OSError, ConnectionError, h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
            closed += 1
        finally:
            sock.close()
    print(f"rapid-reset: {opened} streams opened and reset, {closed} connections closed by the server, "
          f"{seconds} s")


def idle(target, count, seconds):
    host, port = target.rsplit(":", 1)
    socks, failed = [], 0
    for _ in range(count):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=2))
        except OSError:
            failed += 1
    time.sleep(seconds)
    closed = 0
    for s in socks:
        # The server may have sent its HTTP/2 settings (and a GOAWAY) before closing: read what is there; an end of
        # stream (or a reset) means it closed the connection.
        s.setblocking(False)
        try:
            for _ in range(64):
                data = s.recv(65536)
                if data == b"":
                    closed += 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(f"idle: {len(socks)} connections opened ({failed} refused), {closed} closed by the server within "
          f"{seconds} s")


def aged(target, seconds):
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    host, port = target.rsplit(":", 1)
    start = time.monotonic()
    sock = socket.create_connection((host, int(port)), timeout=2)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    headers = [(":method", "POST"), (":scheme", "http"), (":path", "/brook.v1.Admin/GetLimits"),
               (":authority", target), ("content-type", "application/grpc"), ("te", "trailers")]
    calls = answered = 0
    goaway = None
    sock.settimeout(0.1)
    while goaway is None and time.monotonic() - start < seconds:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, headers, end_stream=False)
        conn.send_data(sid, b"\x00\x00\x00\x00\x00", end_stream=True)  # an empty GetLimitsRequest
        calls += 1
        sock.sendall(conn.data_to_send())
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline and goaway is None:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                goaway = time.monotonic() - start
                break
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                # A frame after the server's GOAWAY (h2 closed the connection on it): the GOAWAY came.
                goaway = time.monotonic() - start
                break
            for event in events:
                if isinstance(event, h2.events.StreamEnded):
                    answered += 1
                elif isinstance(event, h2.events.ConnectionTerminated):
                    goaway = time.monotonic() - start
            sock.sendall(conn.data_to_send())
    sock.close()
    when = "none" if goaway is None else f"{goaway:.2f} s"
    print(f"aged: {calls} calls, {answered} answered, goaway after {when}")


def main():
    mode = sys.argv[1]
    if mode == "rapid-reset":
        rapid_reset(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    elif mode == "idle":
        idle(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "aged":
        aged(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
