"""Writers of small datasets in the exact layouts and file formats of NSD, Algonauts 2023 and BYO.

They produce the same file names, dtypes, header shapes and 1-based indices as the real data, only
with fewer vertices / voxels / images, so that every reader (and the downloader) runs on real files
in tests and benchmarks. Each stimulus image encodes its own id in its first pixel
(:func:`image_id_of`), so the trial → image mapping can be checked from the pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import Manifest
from .space import SURFACE_VERTICES

NSD_CTABS = {
    "prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"],
    "floc-faces": ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
    "floc-bodies": ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
    "floc-places": ["OPA", "PPA", "RSC"],
    "floc-words": ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
    "streams": [
        "early",
        "midventral",
        "midlateral",
        "midparietal",
        "ventral",
        "lateral",
        "parietal",
    ],
}
N_STIMULI = 73000
N_SUBJECT_IMAGES = 10000
N_SHARED = 1000
N_DESIGN_SESSIONS = 40
TRIALS = 750


def image_pixels(ids: np.ndarray, size: int) -> np.ndarray:
    """Deterministic uint8 images whose pixel (0, 0) encodes the id as (id >> 16, id >> 8, id)."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.empty((len(ids), size, size, 3), np.uint8)
    out[:] = ((ids % 251)[:, None, None, None] + np.arange(3)[None, None, None, :] * 40) % 256
    out[:, 0, 0, 0] = (ids >> 16) & 255
    out[:, 0, 0, 1] = (ids >> 8) & 255
    out[:, 0, 0, 2] = ids & 255
    return out


def image_id_of(images: np.ndarray) -> np.ndarray:
    """Decode the ids written by :func:`image_pixels` from images ``(n, H, W, 3)``."""
    px = np.asarray(images)[:, 0, 0].astype(np.int64)
    return (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]


def _save_mgh(path: Path, data: np.ndarray) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.MGHImage(data, np.eye(4)).to_filename(str(path))


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.Nifti1Image(data, affine).to_filename(str(path))


def write_ctab(path: Path, names: list[str]) -> None:
    """Write an NSD-style colour table (``<value> <name>`` per line, 0 = Unknown)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["0 Unknown", *(f"{i} {n}" for i, n in enumerate(names, start=1))]
    path.write_text("\n".join(lines) + "\n")


def write_nsd_design(path: Path, seed: int = 0) -> dict:
    """Write an ``nsd_expdesign.mat`` with NSD's variables, shapes and 1-based indices."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    ids = rng.permutation(N_STIMULI)[: N_SHARED + 8 * (N_SUBJECT_IMAGES - N_SHARED)]
    shared = np.sort(ids[:N_SHARED])
    own = ids[N_SHARED:].reshape(8, N_SUBJECT_IMAGES - N_SHARED)
    subjectim = np.concatenate([np.tile(shared, (8, 1)), own], axis=1)  # 0-based 73k ids
    masterordering = rng.permutation(np.repeat(np.arange(N_SUBJECT_IMAGES), 3))  # 0-based
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(
        str(path),
        {
            "masterordering": (masterordering + 1)[None, :].astype(np.float64),
            "subjectim": (subjectim + 1).astype(np.float64),
            "sharedix": (shared + 1)[None, :].astype(np.float64),
        },
    )
    return {"masterordering": masterordering, "subjectim": subjectim, "sharedix": shared}


def write_nsd_fixture(
    root,
    subject: int = 1,
    n_sessions: int = 3,
    *,
    spaces=("fsaverage", "func1pt8mm"),
    n_vertices: int | None = None,
    mesh: str = "fsaverage4",
    grid=(6, 7, 5),
    volume_formats=("hdf5", "nii.gz"),
    image_size: int = 8,
    stimuli: bool = True,
    link_sessions: bool = False,
    seed: int = 0,
) -> dict:
    """Write one NSD subject in the NSD bucket layout under ``root``.

    Parameters
    ----------
    root : path-like
        Dataset root (the equivalent of ``<data_dir>/nsd``).
    subject : int
        Subject number (1-8).
    n_sessions : int
        Sessions of 750 trials to write.
    spaces : sequence of str
        ``"fsaverage"`` and/or ``"func1pt8mm"``.
    n_vertices : int, optional
        Vertices per hemisphere; the vertex count of ``mesh`` by default.
    mesh : str
        fsaverage-family mesh the surface files are on (fsaverage4: 2562 vertices).
    grid : tuple of 3 ints
        func1pt8mm volume shape (X, Y, Z).
    volume_formats : sequence of {"hdf5", "nii.gz"}
        Which func1pt8mm betas files to write.
    image_size : int
        Side of the stimulus images (``imgBrick`` is (73000, size, size, 3) uint8).
    stimuli : bool
        Write ``nsd_stimuli.hdf5``.
    link_sessions : bool
        Write session 1 only and make the other sessions symbolic links to it (benchmarks).
    seed : int

    Returns
    -------
    dict
        ``design`` (0-based arrays), ``n_vertices``, ``grid`` and ``files`` (relative paths).
    """
    import h5py

    root = Path(root)
    man = Manifest.load("nsd")
    rng = np.random.default_rng(seed + subject)
    n_vert = int(n_vertices or SURFACE_VERTICES[mesh])
    design = write_nsd_design(root / man.path("expdesign"), seed)
    written = [man.path("expdesign")]

    if stimuli:
        path = root / man.path("stimuli")
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            ds = f.create_dataset(
                "imgBrick",
                (N_STIMULI, image_size, image_size, 3),
                dtype=np.uint8,
                chunks=(1000, image_size, image_size, 3),
                compression="gzip",
            )
            for a in range(0, N_STIMULI, 10000):
                ds[a : a + 10000] = image_pixels(
                    np.arange(a, min(a + 10000, N_STIMULI)), image_size
                )
        written.append(man.path("stimuli"))
    for label, names in NSD_CTABS.items():
        rel = man.path("ctab", subject=subject, label=label)
        write_ctab(root / rel, names)
        written.append(rel)

    # per-image signal shared across sessions, so that repeat averaging is meaningful
    ordering = design["masterordering"]
    trial_ids = design["subjectim"][subject - 1, ordering]

    def session_values(s: int, n_targets: int) -> np.ndarray:
        ids = trial_ids[(s - 1) * TRIALS : s * TRIALS]
        g = np.random.default_rng(seed * 1000 + s)
        signal = np.sin(ids[:, None] * 0.37 + np.arange(n_targets)[None, :] * 0.11)
        offset = g.normal(0, 2, n_targets)[None, :]  # per-session drift that z-scoring removes
        scale = g.uniform(0.5, 2.0, n_targets)[None, :]
        return (signal + g.normal(0, 0.5, (TRIALS, n_targets))) * scale + offset

    if "fsaverage" in spaces:
        sess_range = range(1, n_sessions + 1)
        for h_i, hemi in enumerate(("lh", "rh")):
            first = None
            for s in sess_range:
                rel = man.path("betas", "fsaverage", subject=subject, session=s, hemi=hemi)
                written.append(rel)
                if link_sessions and first is not None:
                    dst = root / rel
                    dst.unlink(missing_ok=True)
                    dst.symlink_to(first)
                    continue
                if link_sessions:
                    data = rng.standard_normal((n_vert, 1, 1, TRIALS), dtype=np.float32)
                else:
                    data = session_values(s, n_vert).T.astype(np.float32)[:, None, None, :]
                    data += h_i
                _save_mgh(root / rel, data)
                first = root / rel
            rel = man.path("ncsnr", "fsaverage", subject=subject, hemi=hemi)
            _save_mgh(root / rel, rng.uniform(0, 1.5, (n_vert, 1, 1)).astype(np.float32))
            written.append(rel)
            n_native = n_vert + 97 * (h_i + 1)
            for label, names in NSD_CTABS.items():
                if label == "streams":
                    continue
                vals = rng.integers(0, len(names) + 1, n_native).astype(np.int32)
                vals[rng.random(n_native) < 0.6] = 0
                rel = man.path("labels", "fsaverage", subject=subject, hemi=hemi, label=label)
                _save_mgh(root / rel, vals[:, None, None])
                written.append(rel)
            rel = man.path("transform", "fsaverage", subject=subject, hemi=hemi)
            idx = rng.integers(1, n_native + 1, n_vert).astype(np.int32)
            _save_mgh(root / rel, idx[:, None, None])
            written.append(rel)
            for label in ("nsdgeneral", "streams"):
                rel = man.path("atlas", "fsaverage", hemi=hemi, label=label)
                if label == "nsdgeneral":
                    vals = (rng.random(n_vert) < 0.3).astype(np.int32)
                else:
                    vals = rng.integers(0, 8, n_vert).astype(np.int32)
                _save_mgh(root / rel, vals[:, None, None])
                written.append(rel)

    if "func1pt8mm" in spaces:
        grid = tuple(grid)
        affine = np.diag([1.8, 1.8, 1.8, 1.0])
        mask = rng.random(grid) < 0.7
        rel = man.path("brainmask", "func1pt8mm", subject=subject)
        _save_nifti(root / rel, mask.astype(np.int16), affine)
        written.append(rel)
        n_vox = int(np.prod(grid))
        for s in range(1, n_sessions + 1):
            vals = session_values(s, n_vox)  # (750, n_vox) in C order of (X, Y, Z)
            vol = np.round(vals.reshape(TRIALS, *grid) * 300).astype(np.int16)
            vol[:, ~mask] = 0
            if "hdf5" in volume_formats:
                rel = man.path("betas", "func1pt8mm", subject=subject, session=s)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                with h5py.File(root / rel, "w") as f:
                    # (750, Z, Y, X), the trials of each voxel in one chunk, as NSD writes them
                    f.create_dataset(
                        "betas", data=vol.transpose(0, 3, 2, 1), chunks=(TRIALS, 1, 1, 1)
                    )
                written.append(rel)
            if "nii.gz" in volume_formats:
                rel = man.path("betas_nifti", "func1pt8mm", subject=subject, session=s)
                _save_nifti(root / rel, np.moveaxis(vol, 0, -1), affine)
                written.append(rel)
        rel = man.path("ncsnr", "func1pt8mm", subject=subject)
        _save_nifti(root / rel, rng.uniform(0, 1.5, grid).astype(np.float32), affine)
        written.append(rel)
        for label in ("nsdgeneral", *NSD_CTABS):
            if label == "streams":
                continue
            n_labels = 1 if label == "nsdgeneral" else len(NSD_CTABS[label])
            vals = rng.integers(0, n_labels + 1, grid).astype(np.int16)
            vals[~mask] = -1
            rel = man.path("rois", "func1pt8mm", subject=subject, label=label)
            _save_nifti(root / rel, vals, affine)
            written.append(rel)
    return {"design": design, "n_vertices": n_vert, "grid": tuple(grid), "files": written}


def write_algonauts_fixture(
    root,
    subject: int = 1,
    *,
    n_train: int = 40,
    n_test: int = 6,
    n_lh: int = 120,
    n_rh: int = 130,
    n_hemi: int = SURFACE_VERTICES["fsaverage"],
    image_size: int = 16,
    seed: int = 0,
) -> dict:
    """Write one Algonauts 2023 subject (``subjNN/training_split``, ``test_split``, ``roi_masks``).

    Returns
    -------
    dict
        ``nsd_ids`` (0-based, per training row), ``lh`` / ``rh`` challenge vertex indices and the
        responses.
    """
    from PIL import Image

    rng = np.random.default_rng(seed + 100 * subject)
    base = Path(root) / f"subj{subject:02d}"
    ids = np.sort(rng.choice(N_STIMULI, n_train + n_test, replace=False))
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    out = {"nsd_ids": train_ids, "test_nsd_ids": test_ids}
    for split, split_ids, prefix in (
        ("training_split/training_images", train_ids, "train"),
        ("test_split/test_images", test_ids, "test"),
    ):
        folder = base / split
        folder.mkdir(parents=True, exist_ok=True)
        pix = image_pixels(split_ids, image_size)
        for i, (nsd, img) in enumerate(zip(split_ids, pix, strict=True), start=1):
            Image.fromarray(img).save(folder / f"{prefix}-{i:04d}_nsd-{nsd:05d}.png")
    masks = base / "roi_masks"
    masks.mkdir(parents=True, exist_ok=True)
    fmri = base / "training_split" / "training_fmri"
    fmri.mkdir(parents=True, exist_ok=True)
    for hemi, n in (("lh", n_lh), ("rh", n_rh)):
        verts = np.sort(rng.choice(n_hemi, n, replace=False))
        allv = np.zeros(n_hemi, np.int64)
        allv[verts] = 1
        np.save(masks / f"{hemi}.all-vertices_fsaverage_space.npy", allv)
        resp = rng.standard_normal((n_train, n), dtype=np.float32)
        np.save(fmri / f"{hemi}_training_fmri.npy", resp)
        out[hemi], out[f"{hemi}_fmri"] = verts, resp
        for cls, names in NSD_CTABS.items():
            fs = np.zeros(n_hemi, np.int64)
            fs[verts] = rng.integers(0, len(names) + 1, n)
            np.save(masks / f"{hemi}.{cls}_fsaverage_space.npy", fs)
            np.save(masks / f"{hemi}.{cls}_challenge_space.npy", fs[verts])
    for cls, names in NSD_CTABS.items():
        mapping = {0: "Unknown", **{i: n for i, n in enumerate(names, start=1)}}
        save_numpy1_pickle(masks / f"mapping_{cls}.npy", mapping)
    return out


def save_numpy1_pickle(path, obj) -> None:
    """Write ``obj`` as numpy 1.x ``np.save`` writes a pickled object.

    The Algonauts 2023 mapping files are such files: a 0-d object array pickled with protocol 3,
    whose pickle names ``numpy.core.multiarray._reconstruct`` (numpy 2 writes ``numpy._core``).
    """
    import pickle

    payload = pickle.dumps(np.array(obj, dtype=object), protocol=3)
    # protocol 3 names globals as text lines, so the module can be renamed in place
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": ()}
        )
        f.write(payload)


def write_byo_fixture(
    root,
    fmt: str = "npy",
    *,
    n_images: int = 30,
    n_targets: int = 50,
    grid=(4, 5, 3),
    surface: str = "fsaverage4",
    image_size: int = 16,
    subject: str = "S01",
    seed: int = 0,
) -> dict:
    """Write a bring-your-own dataset (images, responses in ``fmt``, a ROI, a TOML description).

    ``fmt`` is one of ``npy``, ``hdf5``, ``nifti``, ``gifti``, ``mgh``. Returns the responses as
    the reader should see them (n_images, n_targets) and the TOML path.
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(image_pixels(np.arange(n_images), image_size)):
        Image.fromarray(img).save(root / "images" / f"img_{i:03d}.png")
    responses_lines = []
    if fmt in ("npy", "hdf5"):
        resp = rng.standard_normal((n_images, n_targets)).astype(np.float32)
        if fmt == "npy":
            np.save(root / "responses.npy", resp)
            responses_lines = ['path = "responses.npy"', 'space = "custom"']
        else:
            import h5py

            with h5py.File(root / "responses.h5", "w") as f:
                f.create_dataset("betas", data=resp)
            responses_lines = ['path = "responses.h5"', 'dataset = "betas"', 'space = "custom"']
    elif fmt == "nifti":
        vol = rng.standard_normal((*grid, n_images)).astype(np.float32)
        mask = rng.random(grid) < 0.6
        vol[~mask] = 0
        _save_nifti(root / "responses.nii.gz", vol, np.diag([2.0, 2.0, 2.0, 1.0]))
        _save_nifti(root / "mask.nii.gz", mask.astype(np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))
        resp = vol.reshape(-1, n_images)[mask.ravel()].T
        n_targets = resp.shape[1]
        responses_lines = ['path = "responses.nii.gz"', 'mask = "mask.nii.gz"', 'space = "vol"']
    elif fmt in ("gifti", "mgh"):
        n_hemi = SURFACE_VERTICES[surface]
        per = [rng.standard_normal((n_hemi, n_images)).astype(np.float32) for _ in range(2)]
        resp = np.concatenate(per, axis=0).T
        n_targets = resp.shape[1]
        for hemi, data in zip(("lh", "rh"), per, strict=True):
            if fmt == "mgh":
                _save_mgh(root / f"{hemi}.responses.mgh", data[:, None, None, :])
            else:
                import nibabel as nib

                arrays = [
                    nib.gifti.GiftiDataArray(col, intent="NIFTI_INTENT_NONE") for col in data.T
                ]
                nib.save(nib.GiftiImage(darrays=arrays), str(root / f"{hemi}.responses.func.gii"))
        ext = "mgh" if fmt == "mgh" else "func.gii"
        responses_lines = [
            f'left = "lh.responses.{ext}"',
            f'right = "rh.responses.{ext}"',
            f'space = "{surface}"',
        ]
    else:
        raise ValueError(f"unknown format {fmt!r}; use npy, hdf5, nifti, gifti or mgh")
    roi = np.zeros(n_targets, bool)
    roi[: n_targets // 3] = True
    (root / "rois").mkdir(exist_ok=True)
    np.save(root / "rois" / "early.npy", roi)
    nc = rng.uniform(0, 1, n_targets)
    np.save(root / "nc.npy", nc)
    test = np.arange(0, n_images, 5)
    (root / "test.txt").write_text("\n".join(map(str, test)) + "\n")
    toml = root / "study.toml"
    toml.write_text(
        "\n".join(
            [
                "[dataset]",
                'name = "fixture-study"',
                f'subject = "{subject}"',
                "",
                "[images]",
                'folder = "images"',
                'pattern = "*.png"',
                "",
                "[responses]",
                *responses_lines,
                "",
                "[split]",
                'test = "test.txt"',
                "",
                "[rois]",
                'early = "rois/early.npy"',
                "",
                "[noise_ceiling]",
                'path = "nc.npy"',
                "",
            ]
        )
    )
    return {"responses": resp, "toml": toml, "test": test, "roi": roi, "noise_ceiling": nc}
