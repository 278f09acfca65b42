"""Preparing an NSD subject: every session streamed into one response store, then opened.

:func:`prepare_nsd` runs four named steps: select (check subject, space, sessions and dtype
against the manifest), find the inputs (one error listing every missing file), open the source of
the space, and write the store (ROIs and noise ceiling first, then the sessions one at a time).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ...files import file_lock
from ..brain_data import BrainData
from ..images import HDF5Images, ImageSet
from ..manifest import Manifest, dataset_root, parse_sessions
from ..store import StoreWriter, load_store, remove_unfinished, store_array, store_inputs
from .averaging import MissingTrials, zscore_rows
from .betas import betas_files
from .design import NSDDesign, trial_layout
from .rois import label_files
from .sources import SurfaceSource, VolumeSource


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


def default_store_path(subject, space, sessions, dtype, nsdgeneral, data_dir=None) -> Path:
    """Where :func:`prepare_nsd` puts its store unless told otherwise (under ``<data_dir>/nsd``)."""
    tag = "_nsdgeneral" if nsdgeneral else ""
    name = f"subj{subject:02d}_{space}{tag}_sessions{_sessions_label(sessions)}_{dtype}.h5"
    return _nsd_root(data_dir) / "prepared" / name


def _nsd_root(data_dir) -> Path:
    """The NSD root: ``<data_dir>/nsd`` (``data_dir`` defaults to :func:`default_data_dir`)."""
    return dataset_root(Manifest.load("nsd"), data_dir)


def prepare_nsd(
    subject: int,
    space: str = "fsaverage",
    sessions=None,
    data_dir=None,
    *,
    out=None,
    dtype: str = "float32",
    zscore: bool = True,
    nsdgeneral: bool = False,
    mesh: str = "fsaverage",
    atlases=("nsdgeneral", "streams"),
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Build (or reuse) the response store of one NSD subject.

    Parameters
    ----------
    subject : int
        1-8.
    space : {"fsaverage", "func1pt8mm"}
        Which NSD preparation of the betas to use.
    sessions : str or list of int, optional
        Sessions to use (``"1-40"``); all of the subject's sessions by default.
    data_dir : path-like, optional
        Data folder holding ``nsd/`` (laid out like the NSD bucket, as ``brainenc data download``
        leaves it); ``$BRAINENC_DATA`` or ``~/brainenc_data`` by default.
    out : path-like, optional
        Store path; ``<data_dir>/nsd/prepared/subjNN_<space>_sessions<a-b>_<dtype>.h5`` by default.
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
    progress : bool
        Show a progress bar.
    overwrite : bool
        Rebuild even when a store with the same inputs exists.

    Returns
    -------
    Path
        The store. A store built from the same inputs (files, sizes, times, options) is reused;
        any difference rebuilds it.
    """
    root = _nsd_root(data_dir)
    manifest, sessions = _select(subject, space, sessions, dtype)
    out = (
        Path(out)
        if out
        else default_store_path(subject, space, sessions, dtype, nsdgeneral, data_dir)
    )
    design_path, betas = _find_inputs(root, manifest, subject, space, sessions, nsdgeneral, atlases)
    design = NSDDesign.load(design_path)
    if space == "fsaverage":
        source = SurfaceSource(root, manifest, subject, betas, mesh, nsdgeneral, atlases)
    else:
        source = VolumeSource(root, manifest, subject, betas, nsdgeneral)
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
        _write_store(out, design, source, subject, space, sessions, dtype, zscore, inputs, progress)
    return out


def _select(subject: int, space: str, sessions, dtype: str) -> tuple[Manifest, list[int]]:
    """The NSD manifest and the session numbers, once subject, space and dtype are checked."""
    manifest = Manifest.load("nsd")
    manifest.check_space(space)
    n_available = manifest.check_subject(subject)
    sessions = parse_sessions(sessions, n_available)
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16'; got {dtype!r}")
    return manifest, sessions


def _find_inputs(root, manifest, subject, space, sessions, nsdgeneral, atlases):
    """The design file and the betas files of each session; every input is checked to exist."""
    betas = betas_files(root, manifest, subject, space, sessions)
    design_path = manifest.local_path(root, "expdesign", space, subject=subject)
    _check_inputs(
        [design_path, *label_files(root, manifest, subject, space, nsdgeneral, atlases)],
        subject,
        space,
    )
    return design_path, betas


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


def _write_store(out, design, source, subject, space, sessions, dtype, zscore, inputs, progress):
    """Stream every session into the store at ``out`` (see :func:`prepare_nsd`)."""
    # ROIs and noise ceiling first: a bad label file fails now, not after every session
    rois, ncsnr = source.rois(), source.ncsnr()
    trial_ids, trial_sess = design.trials(subject, sessions)
    lay = trial_layout(trial_ids, design.sharedix)
    n_rep = int(lay["n_trials"][lay["test"]].max(initial=0))
    space_obj = source.space()
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
    with StoreWriter(
        out, len(lay["image_ids"]), space_obj.n_targets, dtype, n_rep, len(lay["test"])
    ) as w:
        desc = f"NSD subj{subject:02d} {space}"
        steps = [(s, part) for s in sessions for part in source.parts]
        meta["missing_trials"] = _stream_sessions(
            w, source, lay, trial_sess, steps, zscore, desc, progress
        )
        w.write_array("image_ids", lay["image_ids"])
        w.write_array("n_trials", lay["n_trials"].astype(np.int16))
        w.write_array("train", lay["train"])
        w.write_array("test", lay["test"])
        w.write_space(space_obj)
        w.write_rois(rois)
        if ncsnr is not None:
            meta.update(_write_noise_ceiling(w, ncsnr, lay))
        w.set_meta(meta, inputs)
    return out


def _stream_sessions(w, source, lay, trial_sess, steps, zscore, desc, progress) -> int:
    """Add every (session, part) block to the averages and repeats; the count of NaN trials."""
    from tqdm.auto import tqdm

    weights = 1.0 / lay["n_trials"]
    missing = MissingTrials(lay["n_trials"])
    for s, part in tqdm(steps, desc=desc, disable=not progress):
        sel = trial_sess == s
        rows = lay["row"][sel]
        block, col0 = source.read(s, part)  # (750, n_targets_part) float32
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
    return missing.fix(w.responses)


def _write_noise_ceiling(w, ncsnr, lay) -> dict:
    """Write ``ncsnr`` and, with a test split, the noise ceiling; the metadata that says how."""
    w.write_array("ncsnr", ncsnr)
    if not len(lay["test"]):
        return {}
    from ...metrics import noise_ceiling

    n_eff = 1.0 / np.mean(1.0 / lay["n_trials"][lay["test"]])
    w.write_array("noise_ceiling", noise_ceiling(ncsnr, n_eff))
    return {"noise_ceiling": f"ncsnr^2 / (ncsnr^2 + 1/n), n = {n_eff:.3f}"}


def load_nsd(
    subject: int,
    space: str = "fsaverage",
    sessions=None,
    data_dir=None,
    *,
    images: ImageSet | None = None,
    **prepare_kwargs,
) -> BrainData:
    """Prepare (if needed) and open one NSD subject as an out-of-core ``BrainData``.

    Parameters
    ----------
    subject, space, sessions, data_dir :
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
    root = _nsd_root(data_dir)
    path = prepare_nsd(subject, space, sessions, data_dir, **prepare_kwargs)
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


def nsd_file(key: str, space: str | None = None, data_dir=None, **fields) -> Path:
    """Path of one NSD file under ``<data_dir>/nsd`` from the manifest (``nsd_file("stimuli")``)."""
    return Manifest.load("nsd").local_path(_nsd_root(data_dir), key, space, **fields)
