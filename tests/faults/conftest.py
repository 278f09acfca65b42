"""Fixtures of the fault tests: HTTP servers on 127.0.0.1 that never answer or trickle bytes."""

from __future__ import annotations

import socket
import threading
import time

import pytest


@pytest.fixture
def black_hole():
    """A URL whose server accepts connections and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


@pytest.fixture
def trickle():
    """A URL whose server answers 200 with a 1 MB body, then sends one byte every 20 ms."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve(conn):
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            try:
                while not stop.wait(0.02):
                    conn.sendall(b"x")
            except OSError:  # the client gave up and closed
                pass

    def accept():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    stop.set()
    sock.close()
    time.sleep(0.05)
