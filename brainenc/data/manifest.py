"""Dataset manifests (what files a dataset has and where) and lock files (what was downloaded).

A manifest is a TOML file in ``data_manifests/`` (installed inside the package as
``brainenc/data_manifests``, see :func:`manifest_dir`): a ``[dataset]`` table (name, base URL,
access and licence notes), a ``[subjects]`` table (ids and sessions per subject) and one
``[[files]]`` entry per kind of file, whose ``path`` is a template over ``{subject}``,
``{session}``, ``{hemi}`` and ``{label}`` (Python format syntax, e.g. ``subj{subject:02d}``).
Expanding a manifest for a subject, a space and a set of sessions gives the list of files to fetch
or read.

Checksums of the real files are not known in advance, so the first download records each file's
sha256 and size in a lock file next to the data (``brainenc-lock.json``); later runs verify
against it.
"""

from __future__ import annotations

import json
import os
import re
import string
import threading
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..files import inside, write_atomically

#: Template fields a manifest path may use.
TEMPLATE_FIELDS = ("subject", "session", "hemi", "label")
#: The hemispheres, left first (the order of targets), and the prefix of their files.
HEMISPHERES = {"left": "lh", "right": "rh"}
LOCK_NAME = "brainenc-lock.json"
#: The manifests of a source checkout (or an editable install): the repository's top level.
_CHECKOUT_MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests"


def manifest_dir() -> Path:
    """Folder of the bundled manifests.

    ``$BRAINENC_MANIFESTS`` when set; else ``brainenc/data_manifests`` inside the installed package
    (the wheel ships the top-level ``data_manifests/`` there), found with ``importlib.resources``;
    else, in a source checkout, the top-level ``data_manifests/`` itself.
    """
    if "BRAINENC_MANIFESTS" in os.environ:
        return Path(os.environ["BRAINENC_MANIFESTS"])
    bundled = resources.files("brainenc") / "data_manifests"
    if bundled.is_dir():
        return Path(str(bundled))
    return _CHECKOUT_MANIFESTS


def default_data_dir() -> Path:
    """Root folder for downloaded datasets: ``$BRAINENC_DATA`` or ``~/brainenc_data``."""
    return Path(os.environ.get("BRAINENC_DATA", Path.home() / "brainenc_data")).expanduser()


def dataset_root(manifest: Manifest, data_dir=None) -> Path:
    """Local root of a dataset: ``<data_dir>/<manifest name>``."""
    data_dir = Path(data_dir or default_data_dir()).expanduser()
    return inside(data_dir, manifest.name, f"dataset name in {manifest.source}")


def parse_sessions(spec, n_available: int | None = None) -> list[int]:
    """Parse a session selection such as ``"1-40"``, ``"1,3,5-7"``, ``"all"`` or a list of ints.

    Parameters
    ----------
    spec : str, int, sequence of int or None
        The selection; ``None`` or ``"all"`` means every available session.
    n_available : int, optional
        Sessions the subject has; selections beyond it raise ``ValueError``.

    Returns
    -------
    list of int
        Sorted, unique, 1-based session numbers.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        if n_available is None:
            raise ValueError("sessions='all' needs the number of available sessions")
        return list(range(1, n_available + 1))
    if isinstance(spec, int):
        out = {spec}
    elif isinstance(spec, str):
        out = set()
        for part in spec.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ValueError(
                    f"bad session selection {spec!r}; use e.g. '1-40', '1,3,5-7' or 'all'"
                )
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ValueError(f"bad session range {part!r} in {spec!r}: end before start")
            out.update(range(lo, hi + 1))
    else:
        out = {int(s) for s in spec}
    sessions = sorted(out)
    if not sessions:
        raise ValueError(f"session selection {spec!r} selects no session")
    if sessions[0] < 1:
        raise ValueError(f"sessions are numbered from 1; got {sessions[0]} in {spec!r}")
    if n_available is not None and sessions[-1] > n_available:
        raise ValueError(
            f"session {sessions[-1]} requested but only sessions 1-{n_available} exist for this "
            "subject; pass a smaller range (e.g. --sessions 1-{n})".replace("{n}", str(n_available))
        )
    return sessions


def _template_fields(template: str) -> set[str]:
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            names.add(name)
    return names


@dataclass(frozen=True)
class FileSpec:
    """One concrete file of a dataset, after expanding a manifest template.

    Attributes
    ----------
    key : str
        Which manifest entry it comes from (``"betas"``, ``"stimuli"``, ...).
    relpath : str
        Path relative to the dataset root (also the path under the base URL).
    size : int or None
        Expected size in bytes (approximate unless ``exact_size``).
    exact_size : bool
        Whether ``size`` is exact.
    sha256 : str or None
        Known checksum, when the manifest gives one.
    fields : dict
        The template values (subject, session, hemi, label).
    """

    key: str
    relpath: str
    size: int | None = None
    exact_size: bool = False
    sha256: str | None = None
    fields: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Manifest:
    """A parsed, validated dataset manifest.

    Use :meth:`load` to read one by name (``"nsd"``, ``"algonauts2023"``) or path.
    """

    name: str
    dataset: dict
    subjects: dict
    entries: list[dict]
    source: str = "<memory>"

    @classmethod
    def load(cls, name_or_path) -> Manifest:
        """Read and validate a manifest from a bundled name or a TOML path."""
        path = Path(name_or_path)
        if not path.suffix:
            path = manifest_dir() / f"{name_or_path}.toml"
        if not path.exists():
            known = sorted(p.stem for p in manifest_dir().glob("*.toml"))
            raise FileNotFoundError(
                f"no manifest {path}; bundled manifests: {', '.join(known) or 'none'}"
            )
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path} is not valid TOML: {e}") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<memory>") -> Manifest:
        """Build a manifest from an already-parsed TOML dictionary, validating it."""
        dataset = raw.get("dataset")
        if not isinstance(dataset, dict) or "name" not in dataset:
            raise ValueError(f"{source}: a manifest needs a [dataset] table with a name")
        subjects = raw.get("subjects", {})
        entries = raw.get("files", [])
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{source}: a manifest needs at least one [[files]] entry")
        m = cls(dataset["name"], dataset, subjects, entries, source)
        m.validate()
        return m

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the manifest's structure; raise ``ValueError`` naming the bad entry."""
        ids = self.subjects.get("ids")
        sessions = self.subjects.get("sessions")
        if ids is not None and sessions is not None and len(ids) != len(sessions):
            raise ValueError(
                f"{self.source}: [subjects] has {len(ids)} ids but {len(sessions)} session "
                "counts; give one count per subject"
            )
        seen = set()
        for i, e in enumerate(self.entries):
            where = f"{self.source}: [[files]] entry {i + 1}"
            for req in ("key", "path"):
                if req not in e:
                    raise ValueError(f"{where} has no {req!r}")
            unknown = _template_fields(e["path"]) - set(TEMPLATE_FIELDS)
            if unknown:
                raise ValueError(
                    f"{where} ({e['key']}) uses unknown template fields {sorted(unknown)}; "
                    f"allowed: {', '.join(TEMPLATE_FIELDS)}"
                )
            if "label" in _template_fields(e["path"]) and not e.get("labels"):
                raise ValueError(f"{where} ({e['key']}) uses {{label}} but lists no labels")
            for space in e.get("spaces", ["*"]):
                ident = (e["key"], space)
                if ident in seen:
                    raise ValueError(f"{where}: key {e['key']!r} appears twice for space {space}")
                seen.add(ident)

    # -- queries ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str | None:
        url = self.dataset.get("base_url")
        return url if url is None or url.endswith("/") else url + "/"

    @property
    def spaces(self) -> list[str]:
        return list(self.dataset.get("spaces", []))

    def check_subject(self, subject: int) -> int:
        """Return the subject's session count; raise if the manifest has no such subject."""
        ids = self.subjects.get("ids")
        if ids is None:
            return 0
        if subject not in ids:
            raise ValueError(
                f"{self.name} has no subject {subject!r}; its subjects are {ids} ({self.source})"
            )
        sessions = self.subjects.get("sessions")
        return 0 if sessions is None else int(sessions[ids.index(subject)])

    def check_space(self, space: str) -> None:
        """Raise ``ValueError`` when ``space`` is not one the manifest provides."""
        if self.spaces and space not in self.spaces:
            raise ValueError(
                f"{self.name} has no space {space!r}; choose one of {', '.join(self.spaces)}"
            )

    def entry(self, key: str, space: str | None = None) -> dict:
        """The ``[[files]]`` entry with this key (and applying to ``space``)."""
        for e in self.entries:
            if e["key"] == key and (space is None or _applies(e, space)):
                return e
        raise KeyError(
            f"manifest {self.name!r} has no file entry {key!r}"
            + (f" for space {space!r}" if space else "")
        )

    def path(self, key: str, space: str | None = None, **fields) -> str:
        """Relative path of one file: the entry ``key`` expanded with ``fields``."""
        e = self.entry(key, space)
        return _expand(e["path"], fields, e["key"])

    def local_path(self, root, key: str, space: str | None = None, **fields) -> Path:
        """Where one file lives under the dataset ``root``; a path leading outside it raises."""
        return inside(root, self.path(key, space, **fields), f"{key!r} file path in {self.source}")

    def files(
        self,
        subject: int | None = None,
        space: str | None = None,
        sessions=None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> list[FileSpec]:
        """Every file needed for one subject, space and session selection.

        Parameters
        ----------
        subject : int, optional
            Subject id; required when a template uses ``{subject}``.
        space : str, optional
            Keep only entries for this space (entries without ``spaces`` apply to all).
        sessions : str or list of int, optional
            Session selection (see :func:`parse_sessions`); all of the subject's by default.
        include : list of str, optional
            Also fetch these non-default (``default = false``) entries.
        exclude : list of str, optional
            Skip these entries (e.g. ``["stimuli"]``).
        """
        include, exclude = set(include or ()), set(exclude or ())
        keys = {e["key"] for e in self.entries}
        for k in include | exclude:
            if k not in keys:
                raise ValueError(
                    f"unknown file key {k!r} for {self.name}; keys: {', '.join(sorted(keys))}"
                )
        n_sessions = self.check_subject(subject) if subject is not None else 0
        if space is not None:
            self.check_space(space)
        out = []
        for e in self.entries:
            if space is not None and not _applies(e, space):
                continue
            if e["key"] in exclude or (not e.get("default", True) and e["key"] not in include):
                continue
            names = _template_fields(e["path"])
            grid = [{}]
            if "subject" in names:
                if subject is None:
                    raise ValueError(
                        f"entry {e['key']!r} is per subject; name a subject (--subject)"
                    )
                grid = [{**g, "subject": subject} for g in grid]
            if "session" in names:
                sel = parse_sessions(sessions, n_sessions or None)
                grid = [{**g, "session": s} for g in grid for s in sel]
            if "hemi" in names:
                hemis = e.get("hemis", HEMISPHERES.values())
                grid = [{**g, "hemi": h} for g in grid for h in hemis]
            if "label" in names:
                grid = [{**g, "label": lab} for g in grid for lab in e["labels"]]
            for g in grid:
                out.append(
                    FileSpec(
                        key=e["key"],
                        relpath=_expand(e["path"], g, e["key"]),
                        size=e.get("size"),
                        exact_size=bool(e.get("exact_size", False)),
                        sha256=e.get("sha256"),
                        fields=g,
                    )
                )
        return out


def _applies(entry: dict, space: str) -> bool:
    spaces = entry.get("spaces")
    return spaces is None or space in spaces


def _expand(template: str, fields: dict, key: str) -> str:
    try:
        return template.format(**fields)
    except KeyError as e:
        raise ValueError(f"file entry {key!r} needs the field {e.args[0]!r} ({template})") from None


# -- lock file --------------------------------------------------------------------------------


class LockFile:
    """sha256 and size of every file downloaded into a dataset root, written atomically.

    Parameters
    ----------
    root : path-like
        The dataset root; the lock lives at ``root / "brainenc-lock.json"``.
    dataset : str
        Dataset name recorded in the lock (a lock of another dataset is refused).
    """

    def __init__(self, root, dataset: str):
        self.path = Path(root) / LOCK_NAME
        self.dataset = dataset
        self._lock = threading.Lock()
        self.entries: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"lock file {self.path} is not valid JSON ({e}); delete it to re-verify "
                    "every file on the next download"
                ) from None
            if data.get("dataset") != dataset:
                raise ValueError(
                    f"lock file {self.path} belongs to dataset {data.get('dataset')!r}, not "
                    f"{dataset!r}; use a separate data folder per dataset"
                )
            self.entries = dict(data.get("files", {}))

    def get(self, relpath: str) -> dict | None:
        with self._lock:
            return self.entries.get(relpath)

    def record(self, relpath: str, sha256: str, size: int, mtime_ns: int, url: str = "") -> None:
        """Record one verified file and rewrite the lock file atomically."""
        with self._lock:
            self.entries[relpath] = {
                "sha256": sha256,
                "size": int(size),
                "mtime_ns": int(mtime_ns),
                "url": url,
            }
            self._save()

    def forget(self, relpath: str) -> None:
        with self._lock:
            if self.entries.pop(relpath, None) is not None:
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "dataset": self.dataset, "files": dict(sorted(self.entries.items()))}
        text = json.dumps(data, indent=1) + "\n"
        write_atomically(self.path, lambda tmp: tmp.write_text(text))
