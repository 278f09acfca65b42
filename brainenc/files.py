"""Files: atomic writes, JSON objects read with clear errors, paths that stay inside their root
folder, and inter-process locks."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomically(out: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``out``, then rename it to ``out``.

    Readers never see a half-written file, and a failed write leaves ``out`` as it was. The
    temporary name is unique per process and thread, so concurrent writers do not collide.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def read_json(path: str | os.PathLike, fix: str) -> dict:
    """The JSON object in ``path``; ``ValueError`` ending with ``fix`` when it is not one."""
    try:
        content = json.loads(Path(path).read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); {fix}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object; {fix}")
    return content


def inside(
    root: str | os.PathLike, relpath: str | os.PathLike, what: str, *, resolve: bool = False
) -> Path:
    """``root / relpath``, refusing any ``relpath`` that would lead outside ``root``.

    Paths that come from files (manifest templates, dataset descriptions, run summaries) are
    relative to a root folder; an absolute path or a ``..`` that climbs out of it is refused, so
    such a file can neither read nor write anywhere else.

    Parameters
    ----------
    root : path-like
        The folder the path must stay in.
    relpath : path-like
        The path as the file gives it.
    what : str
        What the path is, for the error message (e.g. ``"[responses] path in study.toml"``).
    resolve : bool
        Also follow symbolic links and require the real file to lie inside the real ``root``
        (for files whose content leaves the machine, such as images embedded in a report).

    Returns
    -------
    Path
        ``root / relpath``, normalised.

    Raises
    ------
    ValueError
        The path is absolute, empty or leads outside ``root``.
    """
    text = os.fspath(relpath)
    parts = Path(os.path.normpath(text)).parts if text else ()
    if not parts or os.path.isabs(text) or parts[0] == "..":
        raise ValueError(
            f"{what} is {text!r}; it must be a relative path inside {root} (no absolute paths, "
            "no '..' leading out of the folder)"
        )
    path = Path(root) / Path(*parts)
    if resolve and not path.resolve().is_relative_to(Path(root).resolve()):
        raise ValueError(
            f"{what} is {text!r}, a link to {path.resolve()} outside {root}; only files inside "
            "the folder are allowed"
        )
    return path


@contextmanager
def file_lock(path: str | os.PathLike, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``path`` while the block runs.

    Two processes filling the same cache, store or encoder folder take turns: the second waits
    (saying so once on stderr) until the first is done, then finds the finished file. The lock
    is advisory (``fcntl.flock``), released when the block ends or the process dies; the lock
    file is removed on release. In a folder where the lock file cannot be created (read-only),
    nothing can be written either, so the block runs without a lock.

    Parameters
    ----------
    path : path-like
        The file or folder to protect.
    what : str
        What is protected, for the messages (e.g. ``"feature cache"``).
    timeout : float, optional
        Seconds to wait before giving up with ``TimeoutError``; by default as long as the other
        process holds the lock.
    """
    path = Path(path)
    lock_path = path.with_name(f".{path.name}.lock")
    start, announced = time.monotonic(), False
    while True:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            f = open(lock_path, "a")
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            f = None
        if f is None:  # a read-only folder: nothing to protect
            yield
            return
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            if not announced:
                print(
                    f"brainenc: waiting for another process to finish the {what} {path}",
                    file=sys.stderr,
                )
                announced = True
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(
                    f"the {what} {path} stayed locked by another process for {timeout:g} s "
                    f"(lock file {lock_path}); wait for that process to finish, or stop it and "
                    "run again"
                ) from None
            time.sleep(0.05)
            continue
        # the holder before us may have removed the file after we opened it: lock the new one
        if not lock_path.exists() or os.stat(lock_path).st_ino != os.fstat(f.fileno()).st_ino:
            f.close()
            continue
        break
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        f.close()
