"""Load a page in headless Chromium: console errors, image decoding and a screenshot.

Talks the Chrome DevTools Protocol over the pipe that ``--remote-debugging-pipe`` opens (file
descriptors 3 and 4 of the browser, NUL-terminated JSON messages), so it needs no network port
and no Python package beyond the standard library; only a Chromium binary (Debian:
``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Executables tried, in order, when ``BRAINENC_CHROMIUM`` does not name one.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_DECODE_IMAGES = """Promise.all(Array.from(document.images).map(img => img.decode().then(
    () => [img.alt || img.src.slice(0, 60), img.naturalWidth > 0],
    () => [img.alt || img.src.slice(0, 60), false])))"""


@dataclass
class PageLoad:
    """What loading a page showed.

    Attributes
    ----------
    console_errors : list of str
        Console messages of level error, uncaught exceptions and failed loads, in order.
    images : list of (str, bool)
        Each ``<img>`` (its alt text, or the start of its source) and whether it decoded.
    screenshot : bytes
        PNG of the whole page at the requested width.
    """

    console_errors: list[str] = field(default_factory=list)
    images: list[tuple[str, bool]] = field(default_factory=list)
    screenshot: bytes = b""


def find_chromium() -> str | None:
    """Path of a Chromium executable: ``BRAINENC_CHROMIUM``, else the first on ``PATH``."""
    if os.environ.get("BRAINENC_CHROMIUM"):
        return os.environ["BRAINENC_CHROMIUM"]
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def load_page(
    path: str | os.PathLike,
    *,
    width: int = 1280,
    height: int = 900,
    timeout: float = 60.0,
    fragment: str = "",
) -> PageLoad:
    """Open a local HTML file in headless Chromium and report what happened.

    Parameters
    ----------
    path : path
        The page.
    width, height : int
        Viewport in CSS pixels; the screenshot covers the full page height.
    timeout : float
        Seconds allowed for the whole load.
    fragment : str
        Open the page at ``#fragment`` (an element id), as a click on a link to it would.

    Returns
    -------
    PageLoad

    Raises
    ------
    FileNotFoundError
        No Chromium was found; the message says how to install or name one.
    TimeoutError
        The browser did not answer in time.
    """
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError(
            f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)} on PATH); install it (Debian: "
            "apt-get install chromium) or set BRAINENC_CHROMIUM to its executable"
        )
    url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory(prefix="brainenc-chromium-") as profile:
        with _DevTools(binary, profile, time.monotonic() + timeout) as browser:
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            page = session["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                browser.call(f"{domain}.enable", session=page)
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=page,
            )
            browser.call("Page.navigate", {"url": url}, session=page)
            browser.wait_for("Page.loadEventFired", page)
            decoded = browser.call(
                "Runtime.evaluate",
                {"expression": _DECODE_IMAGES, "awaitPromise": True, "returnByValue": True},
                session=page,
            )["result"]["value"]
            size = browser.call("Page.getLayoutMetrics", session=page)["cssContentSize"]
            shot = browser.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1},
                },
                session=page,
            )
            return PageLoad(
                console_errors=browser.errors(page),
                images=[(str(name), bool(ok)) for name, ok in decoded],
                screenshot=base64.b64decode(shot["data"]),
            )


def _as_fds_3_and_4(reading: int, writing: int) -> None:
    """In the browser's process: make ``reading`` its fd 3 and ``writing`` its fd 4."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 5) for fd in (reading, writing)]  # clear of 3 and 4
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


class _DevTools:
    """A headless Chromium driven over its DevTools pipe; collects every event it sends."""

    def __init__(self, binary: str, profile: str, deadline: float):
        self.deadline = deadline
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: _as_fds_3_and_4(to_browser, from_browser),
        )
        os.close(to_browser)
        os.close(from_browser)

    def __enter__(self) -> _DevTools:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._send("Browser.close", {}, None)
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._write)
            os.close(self._read)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        ident = self._send(method, params or {}, session)
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"Chromium refused {method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        """Return once ``event`` has arrived for ``session``."""
        while not any(
            e.get("method") == event and e.get("sessionId") == session for e in self.events
        ):
            self.events.append(self._receive())

    def errors(self, session: str) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen on ``session``."""
        found = []
        for event in (e for e in self.events if e.get("sessionId") == session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description", details["text"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['text']} {params['entry'].get('url', '')}".strip())
        return found

    def _send(self, method: str, params: dict, session: str | None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time; is the page very large?")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()}) mid-session")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)
