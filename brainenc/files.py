"""Files: atomic writes and paths that stay inside their root folder."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
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
