"""Parallel, resumable, checksummed downloads of the files a manifest lists.

Transfers use ``requests`` (plain HTTPS GETs, which is all NSD's public S3 bucket needs): each
file streams into ``<name>.part``; a dropped connection resumes with an HTTP ``Range`` request; a
finished file is checked (expected size, the manifest's sha256 or the one recorded in the lock
file, and the server's ETag when it is a plain MD5) and only then renamed into place. A file that
fails its check is fetched once more from scratch, then the download fails loudly. Files already
complete (present, and matching the lock) are skipped without any request.

A server that stops sending (no byte for ``timeout`` seconds) or trickles (fewer than ``min_rate``
bytes per second over ``rate_window`` seconds) breaks the transfer off; after ``retries`` such
attempts the download gives up, naming the file and what to do. So one file takes at most about
``(retries + 1) * max(timeout, rate_window)`` seconds of waiting on a server that does not deliver.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..files import inside
from .manifest import FileSpec, LockFile, Manifest, dataset_root

_CHUNK = 1 << 20
# small network reads: a dropped connection loses at most one read's worth of bytes
_NET_CHUNK = 1 << 16
_ETAG_MD5 = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


class DownloadError(RuntimeError):
    """A file could not be fetched (unreachable host, HTTP error, repeated drops)."""


class ChecksumError(DownloadError):
    """A fetched or present file does not match its expected size or checksum."""


@dataclass
class PlannedFile:
    """One file of a download plan: where it comes from, where it goes, and whether it is needed."""

    spec: FileSpec
    url: str
    dest: Path
    status: str  # "complete", "missing", "partial", "unverified", "corrupt"

    @property
    def needed(self) -> bool:
        """Whether the file will be transferred (present files not in the lock are adopted)."""
        if self.status == "unverified":
            return self.spec.sha256 is not None or (
                self.spec.exact_size and self.spec.size != self.dest.stat().st_size
            )
        return self.status != "complete"


@dataclass
class DownloadPlan:
    """What a download would do: every file of the selection and its state on disk."""

    dataset: str
    root: Path
    files: list[PlannedFile]

    @property
    def to_fetch(self) -> list[PlannedFile]:
        return [f for f in self.files if f.needed]

    @property
    def bytes_to_fetch(self) -> int:
        total = 0
        for f in self.to_fetch:
            part = f.dest.with_name(f.dest.name + ".part")
            done = part.stat().st_size if part.exists() else 0
            total += max((f.spec.size or 0) - done, 0)
        return total

    def describe(self, verbose: bool = True) -> str:
        """Human-readable summary (the dry-run output)."""
        lines = []
        if verbose:
            for f in self.to_fetch:
                size = f"{human_size(f.spec.size):>9}" if f.spec.size else "   size ?"
                lines.append(f"  {f.status:>10}  {size}  {f.spec.relpath}")
        n_done = len(self.files) - len(self.to_fetch)
        lines.append(
            f"{self.dataset}: {len(self.to_fetch)} of {len(self.files)} files to fetch, about "
            f"{self.bytes_to_fetch / 1e9:.2f} GB ({n_done} already complete) into {self.root}"
        )
        return "\n".join(lines)


@dataclass
class DownloadReport:
    """What a download did."""

    plan: DownloadPlan
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refetched: list[str] = field(default_factory=list)
    bytes: int = 0


def plan_download(
    manifest: Manifest | str,
    subject: int | None = None,
    space: str | None = None,
    sessions=None,
    data_dir=None,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    base_url: str | None = None,
    verify: bool = False,
) -> DownloadPlan:
    """List the files of a selection and their state on disk, without any network access.

    A present file counts as complete when the lock file records it with the same size and
    modification time (or, with ``verify=True`` or a changed time, the same sha256).

    Parameters
    ----------
    manifest : Manifest or str
        A manifest or the name of a bundled one (``"nsd"``).
    subject, space, sessions :
        The selection (see :meth:`Manifest.files`).
    data_dir : path-like, optional
        Data folder; ``$BRAINENC_DATA`` or ``~/brainenc_data`` by default.
    include, exclude : list of str, optional
        Extra (non-default) file keys to fetch / keys to skip.
    base_url : str, optional
        Override the manifest's base URL (a mirror).
    verify : bool
        Hash every present file against the lock, even when its size and time match.
    """
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    root = dataset_root(manifest, data_dir)
    base = base_url or manifest.base_url or ""
    if base and not base.endswith("/"):
        base += "/"
    lock = LockFile(root, manifest.name)
    specs = manifest.files(subject, space, sessions, include=include, exclude=exclude)
    files = []
    for spec in specs:
        dest = inside(root, spec.relpath, f"{spec.key!r} file path in {manifest.source}")
        files.append(
            PlannedFile(spec, base + spec.relpath, dest, _status(spec, dest, lock, verify))
        )
    return DownloadPlan(manifest.name, root, files)


def _status(spec: FileSpec, dest: Path, lock: LockFile, verify: bool) -> str:
    if not dest.exists():
        return "partial" if dest.with_name(dest.name + ".part").exists() else "missing"
    st = dest.stat()
    rec = lock.get(spec.relpath)
    if rec is None:
        return "unverified"
    if rec["size"] != st.st_size:
        return "corrupt"
    if not verify and rec.get("mtime_ns") == st.st_mtime_ns:
        return "complete"
    return "complete" if sha256_file(dest) == rec["sha256"] else "corrupt"


def sha256_file(path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def human_size(n_bytes: float) -> str:
    """``n_bytes`` in the largest unit that keeps it at least 1: ``"512 B"``, ``"3.2 MB"``."""
    if n_bytes < 1000:
        return f"{n_bytes:.0f} B"
    for unit in ("kB", "MB"):
        n_bytes /= 1000
        if n_bytes < 1000:
            return f"{n_bytes:.1f} {unit}"
    return f"{n_bytes / 1000:.1f} GB"


def download(
    manifest: Manifest | str,
    subject: int | None = None,
    space: str | None = None,
    sessions=None,
    data_dir=None,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    workers: int = 4,
    dry_run: bool = False,
    progress: bool = True,
    verify: bool = False,
    base_url: str | None = None,
    retries: int = 5,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    min_rate: float = 10_000.0,
    rate_window: float = 30.0,
) -> DownloadReport:
    """Fetch every missing or corrupt file of a selection; skip what is complete.

    Parameters
    ----------
    manifest, subject, space, sessions, data_dir, include, exclude, base_url, verify :
        As in :func:`plan_download`.
    workers : int
        Files transferred in parallel.
    dry_run : bool
        Only print what would be fetched and how many GB; no network access.
    progress : bool
        Show a progress bar and print a summary (``False``: print nothing).
    retries : int
        Attempts per file after a dropped or stalled connection (each resumes where the last
        stopped).
    timeout, connect_timeout : float
        Stall and connect timeouts in seconds: an attempt is broken off when no byte arrives for
        ``timeout`` seconds. An unreachable host fails after one connect timeout, without retry
        loops.
    min_rate : float
        Bytes per second a transfer must keep up, measured over every ``rate_window`` seconds;
        a slower attempt is broken off (0 disables the check).
    rate_window : float
        Seconds over which the rate is measured.

    Returns
    -------
    DownloadReport
    """
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    plan = plan_download(
        manifest,
        subject,
        space,
        sessions,
        data_dir,
        include=include,
        exclude=exclude,
        base_url=base_url,
        verify=verify,
    )
    report = DownloadReport(plan)
    if dry_run:
        if progress:
            print(plan.describe())
        return report
    lock = LockFile(plan.root, manifest.name)
    todo = []
    for f in plan.files:
        if f.needed:
            todo.append(f)
            continue
        if f.status == "unverified":
            # present but not downloaded by brainenc (copied in by hand): adopt it, recording its
            # hash so that later runs verify it
            st = f.dest.stat()
            lock.record(f.spec.relpath, sha256_file(f.dest), st.st_size, st.st_mtime_ns, f.url)
        report.skipped.append(f.spec.relpath)
    if not todo:
        if progress:
            print(f"{manifest.name}: all {len(plan.files)} files complete in {plan.root}")
        return report
    if manifest.dataset.get("download") == "manual" or not (base_url or manifest.base_url):
        missing = "\n  ".join(f.spec.relpath for f in todo[:20])
        more = f"\n  ... and {len(todo) - 20} more" if len(todo) > 20 else ""
        raise DownloadError(
            f"{manifest.dataset.get('title', manifest.name)} cannot be downloaded automatically "
            f"({manifest.dataset.get('access', '').strip()} {manifest.dataset.get('url', '')}). "
            f"Unpack it into {plan.root}; missing:\n  {missing}{more}"
        )
    limits = _Limits(retries, timeout, connect_timeout, min_rate, rate_window)
    _fetch_all(todo, lock, report, workers, progress, limits)
    if progress:
        print(
            f"{manifest.name}: fetched {len(report.fetched)} files "
            f"({report.bytes / 1e9:.2f} GB), {len(report.skipped)} already complete"
        )
    return report


@dataclass(frozen=True)
class _Limits:
    """How long and how slowly a server may keep one file before the download gives up."""

    retries: int = 5
    timeout: float = 30.0
    connect_timeout: float = 5.0
    min_rate: float = 10_000.0
    rate_window: float = 30.0


class _TooSlow(Exception):
    """The server delivered under the minimum rate for a whole window."""


def _fetch_all(todo, lock, report, workers, progress: bool, limits: _Limits) -> None:
    import requests
    from tqdm.auto import tqdm

    total = sum(f.spec.size or 0 for f in todo)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="download", disable=not progress)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(workers, 1), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    def one(f: PlannedFile):
        expected = f.spec.sha256
        rec = lock.get(f.spec.relpath)
        if expected is None and rec is not None:
            expected = rec["sha256"]
        if f.status in ("corrupt", "unverified") and f.dest.exists():
            f.dest.unlink()
        sha, size, refetched = fetch_file(
            f.url,
            f.dest,
            expected_sha256=expected,
            expected_size=f.spec.size if f.spec.exact_size else None,
            session=session,
            limits=limits,
            progress=bar,
        )
        lock.record(f.spec.relpath, sha, size, f.dest.stat().st_mtime_ns, f.url)
        return f, size, refetched or f.status == "corrupt"

    try:
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            futures = [pool.submit(one, f) for f in todo]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in pending:
                fut.cancel()
            errors = [fut.exception() for fut in done if fut.exception() is not None]
            if errors:
                raise errors[0]
            for fut in futures:
                f, size, refetched = fut.result()
                report.fetched.append(f.spec.relpath)
                report.bytes += size
                if refetched:
                    report.refetched.append(f.spec.relpath)
    finally:
        bar.close()
        session.close()


def fetch_file(
    url: str,
    dest,
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    session=None,
    limits: _Limits | None = None,
    progress=None,
) -> tuple[str, int, bool]:
    """Download one URL to ``dest`` atomically, resuming and verifying.

    Parameters
    ----------
    url : str
        Source URL.
    dest : path-like
        Final path; data go to ``dest + ".part"`` first and are renamed once verified.
    expected_sha256 : str, optional
        Required checksum.
    expected_size : int, optional
        Required size in bytes.
    session : requests.Session, optional
    limits : optional
        Retries, timeouts and minimum rate (see :func:`download`); its defaults otherwise.
    progress : tqdm, optional
        Bar updated with the bytes received.

    Returns
    -------
    sha256 : str
    size : int
    refetched : bool
        Whether the first complete transfer failed its check and the file was fetched again.
    """
    import requests

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = session or requests.Session()
    limits = limits or _Limits()
    for attempt in range(2):  # a corrupt transfer is fetched once more from scratch
        # a dropped transfer keeps its .part for the next run to resume; a finished one that
        # fails its check is deleted below
        sha, md5, size, etag = _transfer(url, part, session, limits, progress)
        problem = None
        if expected_size is not None and size != expected_size:
            problem = f"size {size} bytes, expected {expected_size}"
        elif expected_sha256 is not None and sha != expected_sha256:
            problem = f"sha256 {sha[:16]}..., expected {expected_sha256[:16]}..."
        elif etag is not None and md5 is not None and md5 != etag:
            problem = f"MD5 {md5} differs from the server's ETag {etag}"
        if problem is None:
            os.replace(part, dest)
            return sha, size, attempt > 0
        part.unlink(missing_ok=True)
        if progress is not None:
            progress.write(f"checksum mismatch for {dest.name} ({problem}); fetching it again")
    raise ChecksumError(
        f"{url} failed its integrity check twice ({problem}); nothing was written to {dest}. "
        "The server copy may have changed: if you trust it, delete the entry for this file from "
        f"{dest.parent} lock file (brainenc-lock.json) and download again"
    )


def _transfer(url, part: Path, session, limits: _Limits, progress):
    """Stream ``url`` into ``part`` (resuming); return (sha256, md5 or None, size, etag md5)."""
    import requests

    host = urlsplit(url).netloc
    failures, why = 0, ""
    while True:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        received = 0
        try:
            with session.get(
                url, headers=headers, stream=True, timeout=(limits.connect_timeout, limits.timeout)
            ) as resp:
                if resp.status_code == 416 and offset:
                    part.unlink()  # stale .part longer than the file: start again
                    continue
                if resp.status_code == 404:
                    raise DownloadError(
                        f"{url} does not exist on the server (HTTP 404); check the manifest path "
                        "and that this subject / session is part of the public release"
                    )
                if resp.status_code in (401, 403):
                    raise DownloadError(
                        f"{url}: access denied (HTTP {resp.status_code}); this dataset may need "
                        "registration or a manual download (see docs/datasets.md)"
                    )
                resp.raise_for_status()
                if offset and resp.status_code != 206:
                    offset = 0  # the server ignored Range: restart the file
                total = _total_size(resp, offset)
                etag = _etag_md5(resp.headers.get("ETag"))
                sha, md5 = hashlib.sha256(), hashlib.md5() if etag else None
                if offset:
                    _hash_prefix(part, offset, sha, md5)
                    if progress is not None:
                        progress.update(0)
                with open(part, "ab" if offset else "wb") as out:
                    for block in _blocks(resp, limits):
                        out.write(block)
                        sha.update(block)
                        if md5 is not None:
                            md5.update(block)
                        received += len(block)
                        if progress is not None:
                            progress.update(len(block))
                size = offset + received
                if total is not None and size < total:
                    raise requests.exceptions.ChunkedEncodingError(
                        f"connection closed after {size} of {total} bytes"
                    )
                return sha.hexdigest(), md5.hexdigest() if md5 else None, size, etag
        except DownloadError:
            raise
        except requests.exceptions.HTTPError as e:
            raise DownloadError(f"{url}: {e}") from None
        except _TooSlow as e:
            failures, why = failures + 1, str(e)
        except requests.exceptions.ConnectionError as e:
            if received == 0 and not _is_drop(e):
                raise DownloadError(
                    f"cannot reach {host} ({type(e).__name__}); check your network connection, "
                    "or download the files by hand into the data folder (see docs/datasets.md)"
                ) from None
            failures += 1
            why = _why(e, limits)
        except (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            if isinstance(e, requests.exceptions.ConnectTimeout):
                raise DownloadError(
                    f"cannot reach {host}: connection timed out after "
                    f"{limits.connect_timeout:g} s; check your network connection (or use "
                    "--base-url for a mirror)"
                ) from None
            failures += 1
            why = _why(e, limits)
        if failures > limits.retries:
            kept = part.stat().st_size if part.exists() else 0
            raise DownloadError(
                f"{url}: gave up, the transfer broke off {failures} times (last: {why}). The "
                "server is too slow or not answering: try again later (the next run resumes "
                f"from byte {kept}{f', kept in {part}' if kept else ''}), use --base-url for a "
                "mirror, or allow more with --timeout / --min-rate (download(timeout=..., "
                "min_rate=..., retries=...))"
            )
        time.sleep(min(0.1 * 2**failures, 2.0))


def _blocks(resp, limits: _Limits):
    """The response body in blocks as they arrive, checking the rate over every window.

    ``read1`` returns whatever one socket read gives, so a server that trickles bytes cannot
    hold the loop: the rate is checked after every block. A server that sends nothing at all
    trips the socket's ``timeout``.
    """
    import requests
    from urllib3.exceptions import HTTPError

    window_start, window_bytes = time.monotonic(), 0
    while True:
        try:
            block = resp.raw.read1(_NET_CHUNK, decode_content=True)
        except HTTPError as e:  # what iter_content would raise, so that retries treat it alike
            raise requests.exceptions.ConnectionError(e) from None
        if not block:
            return
        yield block
        window_bytes += len(block)
        elapsed = time.monotonic() - window_start
        if elapsed >= limits.rate_window:
            if window_bytes / elapsed < limits.min_rate:
                raise _TooSlow(
                    f"{window_bytes / elapsed:.0f} bytes/s over {elapsed:.1f} s, under the "
                    f"minimum {limits.min_rate:g}"
                )
            window_start, window_bytes = time.monotonic(), 0


def _why(error, limits: _Limits) -> str:
    """Why an attempt failed, in a few words."""
    if "timed out" in repr(error).lower():
        return f"no data for {limits.timeout:g} s"
    return f"connection dropped ({type(error).__name__})"


def _is_drop(exc) -> bool:
    """Whether a ConnectionError happened mid-response (a drop) rather than at connect time."""
    text = repr(exc)
    drops = ("IncompleteRead", "ProtocolError", "RemoteDisconnected", "Read timed out")
    return any(s in text for s in drops)


def _total_size(resp, offset: int) -> int | None:
    cr = resp.headers.get("Content-Range")
    if cr and "/" in cr and not cr.endswith("/*"):
        return int(cr.rsplit("/", 1)[1])
    cl = resp.headers.get("Content-Length")
    return None if cl is None else offset + int(cl)


def _etag_md5(etag: str | None) -> str | None:
    """The MD5 in an ETag, when it is a plain one (S3 multipart ETags carry a ``-N`` suffix)."""
    if not etag:
        return None
    m = _ETAG_MD5.match(etag.strip())
    return m.group(1).lower() if m else None


def _hash_prefix(part: Path, offset: int, sha, md5) -> None:
    with open(part, "rb") as f:
        remaining = offset
        while remaining > 0:
            block = f.read(min(_CHUNK, remaining))
            if not block:
                break
            sha.update(block)
            if md5 is not None:
                md5.update(block)
            remaining -= len(block)
