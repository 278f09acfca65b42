"""Fixtures for the data-layer tests: NSD / Algonauts layouts on disk and a faulty HTTP server."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brainenc.data._fixtures import write_nsd_fixture


@pytest.fixture(scope="session")
def nsd_root(tmp_path_factory):
    """One NSD subject (3 sessions, fsaverage4-sized surfaces and a small volume)."""
    root = tmp_path_factory.mktemp("data") / "nsd"  # <data_dir>/nsd
    info = write_nsd_fixture(root, subject=1, n_sessions=3)
    return root, info


class FaultyServer:
    """Static files over HTTP/1.1 on 127.0.0.1 with Range support and injectable faults.

    ``drop_once[relpath] = n`` closes the connection after n bytes the first time the file is
    requested; ``corrupt_once`` holds paths served once with flipped bytes; ``requests`` logs
    (method, path, Range header) of every request.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.drop_once: dict[str, int] = {}
        self.corrupt_once: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rel = self.path.lstrip("/")
                server.requests.append(("GET", rel, self.headers.get("Range")))
                path = server.root / rel
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                etag = hashlib.md5(data).hexdigest()
                if rel in server.corrupt_once:
                    server.corrupt_once.discard(rel)
                    data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
                start = 0
                m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if m:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                cut = server.drop_once.pop(rel, None)
                if cut is not None and cut < len(body):
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def gets(self, rel: str | None = None):
        return [r for r in self.requests if r[0] == "GET" and (rel is None or r[1] == rel)]


@pytest.fixture
def faulty_server(tmp_path):
    """A FaultyServer serving ``tmp_path / "remote"``."""
    remote = tmp_path / "remote"
    remote.mkdir()
    srv = FaultyServer(remote)
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
