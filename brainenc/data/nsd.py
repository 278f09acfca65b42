"""The Natural Scenes Dataset (NSD) reader: betas on disk to a prepared, out-of-core ``BrainData``.

Preparation follows the standard NSD recipe: single-trial betas (``betas_fithrf_GLMdenoise_RR``)
are z-scored per target within each session, the repeats of each image are averaged, the shared
1000 images form the test split, and the noise ceiling comes from NSD's ``ncsnr`` maps. Sessions are
streamed one at a time (one hemisphere or one volume at a time) into a chunked HDF5 store
(:mod:`brainenc.data.store`), so a full subject (~39 GB of fsaverage betas) never sits in memory.

ROIs: in ``fsaverage`` space, the fsaverage atlases (nsdgeneral, streams) are read directly, and the
subject's own ROIs (prf-visualrois, floc-faces / bodies / places / words), which NSD defines on the
subject's native surface, are carried to fsaverage with NSD's ``white-to-fsaverage`` transform
(nearest neighbour, as NSD's own ``nsd_mapdata`` does). In ``func1pt8mm`` space the subject's ROI
volumes are used as they are.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import file_lock
from .brain_data import BrainData
from .images import HDF5Images, ImageSet
from .manifest import Manifest, parse_sessions
from .space import SURFACE_VERTICES, Space
from .store import StoreWriter, load_store, remove_unfinished, store_array, store_inputs

TRIALS_PER_SESSION = 750
BETAS_SCALE_INT16 = 300.0
HEMIS = ("lh", "rh")
#: ROI label files read per subject (their colour tables name the values).
SUBJECT_LABELS = ("prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words")
#: Bilateral ROIs built from the ctab names when all their parts exist.
COMBINED_ROIS = {
    "V1": ("V1v", "V1d"),
    "V2": ("V2v", "V2d"),
    "V3": ("V3v", "V3d"),
    "FFA": ("FFA-1", "FFA-2"),
    "FBA": ("FBA-1", "FBA-2"),
    "VWFA": ("VWFA-1", "VWFA-2"),
}
_BUILTIN_CTABS = {"nsdgeneral": {1: "nsdgeneral"}}


# -- small file readers --------------------------------------------------------------------------


def read_ctab(path) -> dict[int, str]:
    """Read a FreeSurfer / NSD colour table (``<value> <name> [r g b a]`` per line).

    Returns
    -------
    dict of int to str
        Label value to name, without value 0 (``Unknown``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"colour table {path} is missing; download it (brainenc data download)"
        )
    out = {}
    for i, line in enumerate(path.read_text().splitlines()):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            value = int(parts[0])
        except ValueError:
            raise ValueError(
                f"{path}, line {i + 1}: expected '<value> <name>'; got {line!r}"
            ) from None
        if value != 0 and len(parts) > 1:
            out[value] = parts[1]
    return out


def _mgh_header(path: Path):
    """Load an MGH/MGZ header, checking that an uncompressed file holds all its data."""
    import nibabel as nib

    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; download it (brainenc data download nsd ...)")
    try:
        img = nib.load(str(path))
    except Exception as e:
        raise ValueError(
            f"{path} is not a readable MGH file ({e}); delete it and download it again"
        ) from None
    if path.suffix == ".mgh":
        hdr = img.header
        need = int(hdr.get_data_offset()) + int(np.prod(hdr.get_data_shape())) * int(
            hdr.get_data_dtype().itemsize
        )
        have = path.stat().st_size
        if have < need:
            raise ValueError(
                f"{path} is truncated: {have} bytes, but its header describes "
                f"{hdr.get_data_shape()} {hdr.get_data_dtype()} ({need} bytes); delete it and "
                "download it again (brainenc data download verifies and refetches)"
            )
    return img


def read_surface_map(path, n_vertices: int | None = None) -> np.ndarray:
    """Read a per-vertex map (``.mgh`` / ``.mgz`` of shape (n, 1, 1)) as a 1-D array."""
    path = Path(path)
    img = _mgh_header(path)
    shape = img.shape
    if len(shape) < 1 or int(np.prod(shape[1:])) != 1:
        raise ValueError(f"{path} has shape {shape}; expected one value per vertex (n, 1, 1)")
    data = np.asarray(img.dataobj).reshape(-1)
    if n_vertices is not None and data.shape[0] != n_vertices:
        raise ValueError(
            f"{path} has {data.shape[0]} vertices but the betas have {n_vertices} per hemisphere; "
            "the files come from different surfaces"
        )
    return data


def _read_session_surface(path: Path, n_vertices: int) -> np.ndarray:
    """One hemisphere-session of betas as a native float32 array (n_trials, n_vertices)."""
    img = _mgh_header(path)
    shape = img.shape
    if len(shape) != 4 or shape[1:3] != (1, 1) or shape[0] != n_vertices:
        raise ValueError(
            f"{path} has shape {shape}; expected ({n_vertices}, 1, 1, {TRIALS_PER_SESSION})"
        )
    if shape[3] != TRIALS_PER_SESSION:
        raise ValueError(f"{path} has {shape[3]} trials; an NSD session has {TRIALS_PER_SESSION}")
    if path.suffix == ".mgh":
        hdr = img.header
        # MGH data are column-major: each trial's vertices are contiguous, so the file read as
        # (n_trials, n_vertices) in C order is the trial-major matrix we need, without a copy
        dt = hdr.get_data_dtype()
        data = np.fromfile(
            path, dtype=dt, count=n_vertices * shape[3], offset=int(hdr.get_data_offset())
        ).reshape(shape[3], n_vertices)
        if not dt.isnative:
            data = data.byteswap(inplace=True).view(dt.newbyteorder())
        return data.astype(np.float32, copy=False)
    data = np.asarray(img.dataobj, dtype=np.float32).reshape(n_vertices, shape[3])
    return np.ascontiguousarray(data.T)


def zscore_rows(data: np.ndarray, block: int = 64) -> np.ndarray:
    """Z-score each column of ``data`` (n_trials, n_targets) in place (population std).

    Means and variances accumulate in float64 over row blocks, so memory stays at one copy of
    ``data`` plus O(n_targets). Non-finite values (NaN trials) are left out of a column's mean and
    std and stay non-finite. A constant column becomes 0.
    """
    n_cols = data.shape[1]
    total, count = np.zeros(n_cols, np.float64), np.zeros(n_cols, np.int64)
    for i in range(0, data.shape[0], block):
        d = data[i : i + block]
        finite = np.isfinite(d)
        total += np.where(finite, d, 0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
    var = np.zeros_like(mean)
    for i in range(0, data.shape[0], block):
        d = data[i : i + block].astype(np.float64) - mean
        var += np.where(np.isfinite(d), d * d, 0).sum(axis=0)
    std = np.sqrt(var / np.maximum(count, 1))
    with np.errstate(divide="ignore"):
        inv = np.where(std > 0, 1.0 / std, 0.0).astype(np.float32)
    mean32 = mean.astype(np.float32)
    for i in range(0, data.shape[0], block):
        data[i : i + block] -= mean32
        data[i : i + block] *= inv
    return data


class _MissingTrials:
    """The NaN policy of repeat averaging: a non-finite single-trial beta is left out.

    :meth:`drop` zeroes the non-finite values of a session block (so they add nothing to the
    weighted sums) and remembers where they were; :meth:`fix` then rescales each affected average
    from its image's ``n`` trials to the ``n - k`` finite ones (NaN when none is finite), warns,
    and returns how many single-trial values were left out.
    """

    def __init__(self, n_trials: np.ndarray):
        self.n_trials = n_trials
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []

    def drop(self, block: np.ndarray, rows: np.ndarray, col0: int) -> None:
        bad = ~np.isfinite(block)
        if bad.any():
            t, c = np.nonzero(bad)
            self.rows.append(rows[t])
            self.cols.append(c + col0)
            block[bad] = 0

    def fix(self, responses) -> int:
        if not self.rows:
            return 0
        n_cols = responses.shape[1]
        keys, k = np.unique(
            np.concatenate(self.rows) * n_cols + np.concatenate(self.cols), return_counts=True
        )
        rows, cols = np.divmod(keys, n_cols)
        n = self.n_trials[rows]
        scale = np.where(k < n, n / np.maximum(n - k, 1), np.nan).astype(np.float32)
        for row in np.unique(rows):
            sel = rows == row
            values = responses[row, cols[sel]].astype(np.float32) * scale[sel]
            responses[row, cols[sel]] = values.astype(responses.dtype)
        warnings.warn(
            f"{int(k.sum())} single-trial betas were NaN or inf (in {len(np.unique(cols))} "
            f"targets); each was left out of its image's average, and {int((k >= n).sum())} "
            "averages with no finite trial are NaN",
            stacklevel=3,
        )
        return int(k.sum())


# -- the experimental design ---------------------------------------------------------------------


@dataclass
class NSDDesign:
    """NSD's ``nsd_expdesign.mat``, converted to 0-based indices.

    Attributes
    ----------
    masterordering : int array (n_trials_total,)
        For each trial of the full design, the column of ``subjectim`` shown (0-based).
    subjectim : int array (8, 10000)
        Each subject's images as 0-based 73k ids; the first 1000 columns are the shared images.
    sharedix : int array (1000,)
        The shared images as 0-based 73k ids.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray

    @classmethod
    def load(cls, path) -> NSDDesign:
        """Read ``nsd_expdesign.mat`` (MATLAB v5), checking shapes and 1-based indices."""
        from scipy.io import loadmat

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; download it with `brainenc data download nsd --subject N`"
            )
        try:
            mat = loadmat(str(path))
        except Exception as e:  # scipy raises anything from IndexError to OSError on bad files
            raise ValueError(
                f"{path} is not a readable MATLAB file ({type(e).__name__}: {e}); it is truncated "
                "or corrupt: delete it and download it again (brainenc data download nsd)"
            ) from None
        for name in ("masterordering", "subjectim", "sharedix"):
            if name not in mat:
                raise ValueError(f"{path} has no variable {name!r}; is it nsd_expdesign.mat?")
        mo = np.asarray(mat["masterordering"]).reshape(-1).astype(np.int64)
        sim = np.asarray(mat["subjectim"]).astype(np.int64)
        shared = np.asarray(mat["sharedix"]).reshape(-1).astype(np.int64)
        if sim.ndim != 2:
            raise ValueError(f"{path}: subjectim has shape {sim.shape}; expected (8, 10000)")
        if mo.size % TRIALS_PER_SESSION:
            raise ValueError(
                f"{path}: masterordering has {mo.size} trials, not a multiple of "
                f"{TRIALS_PER_SESSION}"
            )
        for name, arr, hi in (
            ("masterordering", mo, sim.shape[1]),
            ("subjectim", sim, None),
            ("sharedix", shared, None),
        ):
            if arr.min() < 1 or (hi is not None and arr.max() > hi):
                raise ValueError(
                    f"{path}: {name} has values in [{arr.min()}, {arr.max()}]; NSD indices are "
                    f"1-based{f' and at most {hi}' if hi else ''}"
                )
        return cls(mo - 1, sim - 1, shared - 1)

    def trials(self, subject: int, sessions) -> tuple[np.ndarray, np.ndarray]:
        """73k ids (0-based) and session numbers of the trials of ``sessions`` for ``subject``."""
        if not 1 <= subject <= self.subjectim.shape[0]:
            raise ValueError(f"subject must be in 1..{self.subjectim.shape[0]}; got {subject}")
        n_sessions = self.masterordering.size // TRIALS_PER_SESSION
        ids, sess = [], []
        for s in sessions:
            if not 1 <= s <= n_sessions:
                raise ValueError(f"session {s} is outside the design's 1..{n_sessions}")
            cols = self.masterordering[(s - 1) * TRIALS_PER_SESSION : s * TRIALS_PER_SESSION]
            ids.append(self.subjectim[subject - 1, cols])
            sess.append(np.full(TRIALS_PER_SESSION, s))
        return np.concatenate(ids), np.concatenate(sess)


def trial_layout(trial_ids: np.ndarray, shared_ids: np.ndarray) -> dict:
    """Rows, split and repeat slots for a sequence of trials.

    Returns
    -------
    dict with
        ``image_ids`` (unique ids, sorted), ``row`` (row of each trial), ``n_trials`` (trials per
        row), ``test`` (rows of shared images), ``train`` (the other rows), ``slot`` (0-based
        occurrence number of each trial's image), ``test_pos`` (position in ``test`` of each
        trial's row, -1 for training rows).
    """
    image_ids, row = np.unique(trial_ids, return_inverse=True)
    n_trials = np.bincount(row, minlength=len(image_ids))
    is_test = np.isin(image_ids, shared_ids)
    test = np.flatnonzero(is_test)
    train = np.flatnonzero(~is_test)
    slot = np.zeros(len(trial_ids), np.int64)
    seen = np.zeros(len(image_ids), np.int64)
    for t, r in enumerate(row):
        slot[t] = seen[r]
        seen[r] += 1
    pos = np.full(len(image_ids), -1, np.int64)
    pos[test] = np.arange(len(test))
    return {
        "image_ids": image_ids,
        "row": row,
        "n_trials": n_trials,
        "test": test,
        "train": train,
        "slot": slot,
        "test_pos": pos[row],
    }


# -- ROI helpers -----------------------------------------------------------------------------


def label_masks(values: np.ndarray, names: dict[int, str], group: str | None = None) -> dict:
    """Boolean masks from an integer label array: one per named value, plus ``group`` (any)."""
    values = np.asarray(values)
    out = {}
    for v, name in names.items():
        out[name] = values == v
    if group is not None and names:
        out[group] = np.isin(values, list(names))
    return out


def add_combined_rois(rois: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the unions of :data:`COMBINED_ROIS` whose parts are all present (in place)."""
    for name, parts in COMBINED_ROIS.items():
        if name not in rois and all(p in rois for p in parts):
            rois[name] = np.logical_or.reduce([rois[p] for p in parts])
    return rois


# -- preparation ---------------------------------------------------------------------------------


def _fingerprint(paths) -> dict:
    out = {}
    for p in paths:
        st = Path(p).stat()
        out[str(p)] = [st.st_size, st.st_mtime_ns]
    return out


def _sessions_label(sessions: list[int]) -> str:
    if sessions == list(range(sessions[0], sessions[-1] + 1)):
        return f"{sessions[0]}-{sessions[-1]}"
    return "x" + hashlib.sha1(",".join(map(str, sessions)).encode()).hexdigest()[:8]


def default_store_path(root, subject, space, sessions, dtype, nsdgeneral) -> Path:
    """Where :func:`prepare_nsd` puts its store unless told otherwise."""
    tag = "_nsdgeneral" if nsdgeneral else ""
    name = f"subj{subject:02d}_{space}{tag}_sessions{_sessions_label(sessions)}_{dtype}.h5"
    return Path(root).expanduser() / "prepared" / name


def prepare_nsd(
    root,
    subject: int,
    space: str = "fsaverage",
    sessions=None,
    *,
    out=None,
    dtype: str = "float32",
    zscore: bool = True,
    nsdgeneral: bool = False,
    mesh: str = "fsaverage",
    atlases=("nsdgeneral", "streams"),
    quiet: bool = False,
    overwrite: bool = False,
) -> Path:
    """Build (or reuse) the response store of one NSD subject.

    Parameters
    ----------
    root : path-like
        The NSD root (``<data_dir>/nsd``), laid out like the NSD bucket.
    subject : int
        1-8.
    space : {"fsaverage", "func1pt8mm"}
        Which NSD preparation of the betas to use.
    sessions : str or list of int, optional
        Sessions to use (``"1-40"``); all of the subject's sessions by default.
    out : path-like, optional
        Store path; ``<root>/prepared/subjNN_<space>_sessions<a-b>_<dtype>.h5`` by default.
    dtype : {"float32", "float16"}
        Storage precision.
    zscore : bool
        Z-score each target within each session (the standard NSD preprocessing). Without it the
        betas stay in percent signal change.
    nsdgeneral : bool
        Keep only the targets inside the nsdgeneral visual-cortex mask.
    mesh : str
        The surface the ``fsaverage`` betas are on; its vertex count is checked against the files.
    atlases : sequence of str
        fsaverage atlases to read as ROIs (``fsaverage`` space only).
    quiet : bool
        No progress bar.
    overwrite : bool
        Rebuild even when a store with the same inputs exists.

    Returns
    -------
    Path
        The store. A store built from the same inputs (files, sizes, times, options) is reused;
        any difference rebuilds it.
    """
    root = Path(root).expanduser()
    manifest = Manifest.load("nsd")
    manifest.check_space(space)
    n_available = manifest.check_subject(subject)
    sessions = parse_sessions(sessions, n_available)
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16'; got {dtype!r}")
    out = (
        Path(out) if out else default_store_path(root, subject, space, sessions, dtype, nsdgeneral)
    )

    def path(key, **fields):
        return manifest.local_path(root, key, space, subject=subject, **fields)

    betas = _betas_files(root, manifest, subject, space, sessions)
    design_path = path("expdesign")
    _check_inputs(
        [design_path, *_label_files(root, manifest, subject, space, nsdgeneral, atlases)],
        subject,
        space,
    )
    design = NSDDesign.load(design_path)
    if space == "fsaverage":
        layout_src = _SurfaceSource(root, manifest, subject, betas, mesh, nsdgeneral, atlases)
    else:
        layout_src = _VolumeSource(root, manifest, subject, betas, nsdgeneral)
    inputs = {
        "dataset": "nsd",
        "subject": subject,
        "space": space,
        "mesh": mesh if space == "fsaverage" else None,
        "sessions": sessions,
        "dtype": dtype,
        "zscore": zscore,
        "nsdgeneral": nsdgeneral,
        "atlases": list(atlases) if space == "fsaverage" else [],
        "files": _fingerprint([design_path, *[p for ps in betas.values() for p in ps]]),
    }
    # a second process preparing the same store waits, then finds it up to date
    with file_lock(out, "response store"):
        if not overwrite and store_inputs(out) == inputs:
            return out
        remove_unfinished(out)
        _write_store(
            out, design, layout_src, subject, space, sessions, dtype, zscore, inputs, quiet
        )
    return out


def _write_store(out, design, layout_src, subject, space, sessions, dtype, zscore, inputs, quiet):
    """Stream every session into the store at ``out`` (see :func:`prepare_nsd`)."""
    # ROIs and noise ceiling first: a bad label file fails now, not after every session
    rois, ncsnr = layout_src.rois(), layout_src.ncsnr()
    trial_ids, trial_sess = design.trials(subject, sessions)
    lay = trial_layout(trial_ids, design.sharedix)
    n_rep = int(lay["n_trials"][lay["test"]].max(initial=0))
    space_obj = layout_src.space()
    meta = {
        "dataset": "nsd",
        "subject": subject,
        "space": space,
        "mesh": space_obj.name,
        "sessions": sessions,
        "betas": "betas_fithrf_GLMdenoise_RR",
        "preprocessing": "z-scored per target within session; repeats averaged"
        if zscore
        else "percent signal change; repeats averaged",
        "split": "test = the shared 1000 NSD images shown in these sessions",
        "dtype": dtype,
        "nsdgeneral": inputs["nsdgeneral"],
        "n_trials": len(trial_ids),
    }
    from tqdm.auto import tqdm

    with StoreWriter(
        out, len(lay["image_ids"]), space_obj.n_targets, dtype, n_rep, len(lay["test"])
    ) as w:
        weights = 1.0 / lay["n_trials"]
        missing = _MissingTrials(lay["n_trials"])
        steps = [(s, part) for s in sessions for part in layout_src.parts]
        for s, part in tqdm(steps, desc=f"NSD subj{subject:02d} {space}", disable=quiet):
            sel = trial_sess == s
            rows = lay["row"][sel]
            block, col0 = layout_src.read(s, part)  # (750, n_targets_part) float32
            if zscore:
                zscore_rows(block)
            is_test = lay["test_pos"][sel] >= 0
            if w.repeats is not None and is_test.any():  # single trials: NaN stays "missing"
                w.set_repeats(
                    lay["slot"][sel][is_test], lay["test_pos"][sel][is_test], block[is_test], col0
                )
            missing.drop(block, rows, col0)
            w.add_rows(rows, block, col0=col0, weights=weights[rows])
            del block
        meta["missing_trials"] = missing.fix(w.responses)
        w.write_array("image_ids", lay["image_ids"])
        w.write_array("n_trials", lay["n_trials"].astype(np.int16))
        w.write_array("train", lay["train"])
        w.write_array("test", lay["test"])
        w.write_space(space_obj)
        w.write_rois(rois)
        if ncsnr is not None:
            w.write_array("ncsnr", ncsnr)
            if len(lay["test"]):
                from ..metrics import noise_ceiling

                n_eff = 1.0 / np.mean(1.0 / lay["n_trials"][lay["test"]])
                w.write_array("noise_ceiling", noise_ceiling(ncsnr, n_eff))
                meta["noise_ceiling"] = f"ncsnr^2 / (ncsnr^2 + 1/n), n = {n_eff:.3f}"
        w.set_meta(meta, inputs)
    return out


def load_nsd(
    root,
    subject: int,
    space: str = "fsaverage",
    sessions=None,
    *,
    images: ImageSet | None = None,
    **prepare_kwargs,
) -> BrainData:
    """Prepare (if needed) and open one NSD subject as an out-of-core ``BrainData``.

    Parameters
    ----------
    root, subject, space, sessions :
        As in :func:`prepare_nsd`; further keyword arguments go to it too.
    images : ImageSet, optional
        The stimuli, one per image id of the store; by default read lazily from
        ``nsd_stimuli.hdf5`` (dataset ``imgBrick``).

    Returns
    -------
    BrainData
        ``responses`` (n_images, n_targets) as an HDF5 dataset, the shared-1000 test split,
        ``repeats`` of the test images, ROIs and the noise ceiling (a fraction).
    """
    root = Path(root).expanduser()
    path = prepare_nsd(root, subject, space, sessions, **prepare_kwargs)
    ids = store_array(path, "image_ids")
    if images is None:
        stim = Manifest.load("nsd").local_path(root, "stimuli")
        if not stim.exists():
            raise FileNotFoundError(
                f"the NSD stimuli {stim} are missing; download them with `brainenc data download "
                f"nsd --subject {subject}` (about 40 GB) or pass images="
            )
        images = HDF5Images(stim, "imgBrick", ids)
    elif len(images) != len(ids):
        raise ValueError(f"images has {len(images)} items but the store has {len(ids)} images")
    return load_store(path, images, expect={"dataset": "nsd", "subject": subject, "space": space})


def _betas_files(root, manifest, subject, space, sessions) -> dict[int, list[Path]]:
    """The betas files of each session; one clear error listing every missing file."""
    out, missing = {}, []
    for s in sessions:
        if space == "fsaverage":
            files = [
                manifest.local_path(root, "betas", space, subject=subject, session=s, hemi=h)
                for h in HEMIS
            ]
        else:
            h5 = manifest.local_path(root, "betas", space, subject=subject, session=s)
            nii = manifest.local_path(root, "betas_nifti", space, subject=subject, session=s)
            files = [h5 if h5.exists() or not nii.exists() else nii]
        missing += [f for f in files if not f.exists()]
        out[s] = files
    if missing:
        first = sessions[0]
        raise FileNotFoundError(
            f"{len(missing)} betas files of subject {subject} are missing (first: {missing[0]}); "
            f"download them with `brainenc data download nsd --subject {subject} --space {space} "
            f"--sessions {first}-{sessions[-1]}`, or pass sessions= with the sessions you have"
        )
    return out


def _label_files(root, manifest, subject, space, nsdgeneral, atlases) -> list[Path]:
    """The ROI, colour-table and transform files a preparation reads besides the betas."""

    def at(key, **fields):
        return manifest.local_path(root, key, space, subject=subject, **fields)

    def ctab(label):
        return manifest.local_path(root, "ctab", subject=subject, label=label)

    files = []
    for label in SUBJECT_LABELS:
        files.append(ctab(label))
        if space == "fsaverage":
            files += [at("labels", hemi=h, label=label) for h in HEMIS]
        else:
            files.append(at("rois", label=label))
    if space != "fsaverage":
        extra = [at("rois", label="nsdgeneral")] if nsdgeneral else []
        return [at("brainmask"), *extra, *files]
    for atlas in dict.fromkeys([*atlases, *(["nsdgeneral"] if nsdgeneral else [])]):
        files += [at("atlas", hemi=h, label=atlas) for h in HEMIS]
        if atlas not in _BUILTIN_CTABS:
            files.append(ctab(atlas))
    return files + [at("transform", hemi=h) for h in HEMIS]


def _check_inputs(paths: list[Path], subject: int, space: str) -> None:
    """One error listing every missing input file, before any work starts."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        listed = "\n  ".join(map(str, missing[:10]))
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise FileNotFoundError(
            f"{len(missing)} input files of NSD subject {subject} ({space}) are missing:\n"
            f"  {listed}{more}\ndownload them with `brainenc data download nsd --subject "
            f"{subject} --space {space}` (they are in its default selection)"
        )


@contextmanager
def _readable(path: Path):
    """Turn a library's error on a truncated or corrupt betas file into one that says the fix."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(
            f"{path} is truncated or corrupt ({type(e).__name__}: {e}); delete it and download "
            "it again (brainenc data download verifies and refetches)"
        ) from None


class _SurfaceSource:
    """fsaverage betas: targets are vertices of both hemispheres (left first)."""

    def __init__(self, root, manifest, subject, betas, mesh, nsdgeneral, atlases):
        self.root, self.manifest, self.subject = Path(root), manifest, subject
        self.betas, self.atlases = betas, tuple(atlases)
        if mesh not in SURFACE_VERTICES:
            raise ValueError(f"unknown mesh {mesh!r}; known: {sorted(SURFACE_VERTICES)}")
        self.mesh = mesh
        self.n_hemi = SURFACE_VERTICES[mesh]
        for files in betas.values():
            for f in files:
                n = _mgh_header(f).shape[0]
                if n != self.n_hemi:
                    other = [k for k, v in SURFACE_VERTICES.items() if v == n]
                    hint = f" (that is {other[0]}: pass mesh={other[0]!r})" if other else ""
                    raise ValueError(
                        f"{f} has {n} vertices but mesh {mesh!r} has {self.n_hemi} per "
                        f"hemisphere; these are not {mesh} betas{hint}"
                    )
        self.keep = [None, None]
        if nsdgeneral:
            self.keep = [
                np.flatnonzero(
                    read_surface_map(self._p("atlas", hemi=h, label="nsdgeneral"), self.n_hemi) > 0
                )
                for h in HEMIS
            ]
        sizes = [self.n_hemi if k is None else len(k) for k in self.keep]
        self.offsets = [0, sizes[0]]
        self.parts = list(range(2))

    def _p(self, key, **fields):
        return self.manifest.local_path(self.root, key, "fsaverage", subject=self.subject, **fields)

    def space(self) -> Space:
        if self.keep[0] is None:
            return Space.surface(self.mesh)
        verts = np.concatenate([self.keep[0], self.keep[1] + self.n_hemi])
        return Space.surface(self.mesh, vertices=verts)

    def read(self, session, part):
        block = _read_session_surface(self.betas[session][part], self.n_hemi)
        if self.keep[part] is not None:
            block = np.ascontiguousarray(block[:, self.keep[part]])
        return block, self.offsets[part]

    def _select(self, per_hemi: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [v if k is None else v[k] for v, k in zip(per_hemi, self.keep, strict=True)]
        )

    def rois(self) -> dict:
        rois = {}
        for atlas in self.atlases:
            names = _BUILTIN_CTABS.get(atlas) or read_ctab(self._ctab(atlas))
            values = self._select(
                [
                    read_surface_map(self._p("atlas", hemi=h, label=atlas), self.n_hemi)
                    for h in HEMIS
                ]
            )
            rois.update(label_masks(values, names, group=atlas if len(names) > 1 else None))
        for label in SUBJECT_LABELS:
            names = read_ctab(self._ctab(label))
            per_hemi = []
            for h in HEMIS:
                native = read_surface_map(self._p("labels", hemi=h, label=label))
                tpath = self._p("transform", hemi=h)
                idx = read_surface_map(tpath, self.n_hemi).astype(np.int64)
                if idx.min() < 1 or idx.max() > native.shape[0]:
                    raise ValueError(
                        f"{tpath} points to native vertices in [{idx.min()}, {idx.max()}] but "
                        f"{h}.{label}.mgz has {native.shape[0]}; the transform and the label "
                        "belong to different subjects"
                    )
                per_hemi.append(native[idx - 1])
            rois.update(label_masks(self._select(per_hemi), names, group=label))
        return add_combined_rois(rois)

    def _ctab(self, label):
        return self.manifest.local_path(self.root, "ctab", subject=self.subject, label=label)

    def ncsnr(self):
        files = [self._p("ncsnr", hemi=h) for h in HEMIS]
        if not all(f.exists() for f in files):
            return None
        return self._select([read_surface_map(f, self.n_hemi) for f in files]).astype(np.float64)


def read_volume_betas(ds, flat: np.ndarray, grid, out: np.ndarray | None = None) -> np.ndarray:
    """Every trial of some voxels of an HDF5 betas dataset, reading each chunk once.

    NSD's ``betas_sessionXX.hdf5`` keeps the 750 trials of a voxel in one chunk, so reading a
    few trials at a time would read every chunk again for each group of trials. This reads slabs
    of whole chunks along Z, with every trial.

    Parameters
    ----------
    ds : h5py.Dataset of shape (n_trials, Z, Y, X)
    flat : array of shape (n_voxels,)
        C-order indices of the voxels into the ``grid`` (X, Y, Z).
    grid : tuple of 3 ints
        (X, Y, Z).
    out : float32 array of shape (n_trials, n_voxels), optional

    Returns
    -------
    array of shape (n_trials, n_voxels), float32 (the file's values, not rescaled)
    """
    x, y, z = np.unravel_index(flat, grid)
    if out is None:
        out = np.empty((ds.shape[0], len(flat)), np.float32)
    step = ds.chunks[1] if ds.chunks else 1
    for z0 in range(0, grid[2], step):
        sel = np.flatnonzero((z >= z0) & (z < z0 + step))
        if len(sel):
            slab = ds[:, z0 : z0 + step]  # (n_trials, dz, Y, X)
            out[:, sel] = slab[:, z[sel] - z0, y[sel], x[sel]]
    return out


class _VolumeSource:
    """func1pt8mm betas: targets are the voxels of the brain mask (or nsdgeneral)."""

    def __init__(self, root, manifest, subject, betas, nsdgeneral):
        import h5py
        import nibabel as nib

        self.root, self.manifest, self.subject, self.betas = Path(root), manifest, subject, betas
        mask_path = self._p("brainmask")
        if not mask_path.exists():
            raise FileNotFoundError(f"{mask_path} is missing; download it (brainenc data download)")
        img = nib.load(str(mask_path))
        self.grid = tuple(img.shape[:3])
        self.affine = img.affine
        mask = np.asarray(img.dataobj) > 0
        if nsdgeneral:
            mask &= self._volume(self._p("rois", label="nsdgeneral")) > 0
        self.mask = mask
        self.flat = np.flatnonzero(mask.ravel())
        self.parts = [0]
        # HDF5 finds truncation on open: check every session now, not when its turn comes
        for path in (files[0] for files in betas.values() if files[0].suffix == ".hdf5"):
            with _readable(path), h5py.File(path, "r"):
                pass

    def _p(self, key, **fields):
        return self.manifest.local_path(
            self.root, key, "func1pt8mm", subject=self.subject, **fields
        )

    def _volume(self, path) -> np.ndarray:
        import nibabel as nib

        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; download it (brainenc data download)")
        data = np.asarray(nib.load(str(path)).dataobj)
        if data.shape[:3] != self.grid:
            raise ValueError(
                f"{path} has grid {data.shape[:3]} but the brain mask has {self.grid}; the files "
                "belong to different subjects or spaces"
            )
        return data

    def space(self) -> Space:
        return Space("func1pt8mm", len(self.flat), mask=self.mask, affine=self.affine)

    def read(self, session, part):
        path = self.betas[session][0]
        out = np.empty((TRIALS_PER_SESSION, len(self.flat)), np.float32)
        if path.suffix == ".hdf5":
            import h5py

            with _readable(path), h5py.File(path, "r") as f:
                if "betas" not in f:
                    raise ValueError(f"{path} has no dataset 'betas'; it has {list(f)}")
                ds = f["betas"]
                expected = (TRIALS_PER_SESSION, *self.grid[::-1])
                if ds.shape != expected:
                    raise ValueError(f"{path} has shape {ds.shape}; expected {expected}")
                read_volume_betas(ds, self.flat, self.grid, out=out)
        else:
            import nibabel as nib

            with _readable(path):
                arr = np.asanyarray(nib.load(str(path)).dataobj)
            if arr.shape != (*self.grid, TRIALS_PER_SESSION):
                raise ValueError(
                    f"{path} has shape {arr.shape}; expected {(*self.grid, TRIALS_PER_SESSION)}"
                )
            for t in range(0, TRIALS_PER_SESSION, 50):
                blk = np.asarray(arr[..., t : t + 50]).reshape(-1, arr[..., t : t + 50].shape[-1])
                out[t : t + 50] = blk[self.flat].T
            del arr
        out /= BETAS_SCALE_INT16
        return out, 0

    def rois(self) -> dict:
        rois = {}
        for label in ("nsdgeneral", *SUBJECT_LABELS):
            path = self._p("rois", label=label)
            if label == "nsdgeneral" and not path.exists():
                continue
            names = _BUILTIN_CTABS.get(label) or read_ctab(
                self.manifest.local_path(self.root, "ctab", subject=self.subject, label=label)
            )
            values = self._volume(path).ravel()[self.flat]
            rois.update(label_masks(values, names, group=label if len(names) > 1 else None))
        return add_combined_rois(rois)

    def ncsnr(self):
        path = self._p("ncsnr")
        if not path.exists():
            return None
        return self._volume(path).ravel()[self.flat].astype(np.float64)


def nsd_file(root, key: str, space: str | None = None, **fields) -> Path:
    """Absolute path of one NSD file from the manifest (e.g. ``nsd_file(root, "stimuli")``)."""
    return Manifest.load("nsd").local_path(root, key, space, **fields)


__all__ = [
    "NSDDesign",
    "add_combined_rois",
    "default_store_path",
    "label_masks",
    "load_nsd",
    "nsd_file",
    "prepare_nsd",
    "read_ctab",
    "read_surface_map",
    "trial_layout",
    "zscore_rows",
]
