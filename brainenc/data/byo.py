"""Bring-your-own datasets: a folder of images, a responses file and a small TOML description.

See ``data_manifests/byo.example.toml`` for every option. Responses may be ``.npy``, HDF5 (read out
of core), NIfTI (4-D, one volume per image, targets = mask voxels), GIfTI (one data array per image)
or MGH / MGZ ((n_vertices, 1, 1, n_images)); surface files come one per hemisphere.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from ..files import inside
from .brain_data import BrainData
from .formats import label_masks, read_ctab, read_surface_responses
from .images import FileImages
from .space import SURFACE_VERTICES, Space


def _read_toml(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(
            f"no dataset description at {path}; see data_manifests/byo.example.toml"
        )
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None


def _responses(cfg: dict, folder: Path):
    """Responses array (or h5py dataset) and its Space."""
    import nibabel as nib

    space_name = cfg.get("space", "custom")
    if "left" in cfg or "right" in cfg:
        parts, verts, n_hemi = [], [], SURFACE_VERTICES.get(space_name)
        for h, side in enumerate(("left", "right")):
            if side not in cfg:
                continue
            side_path = inside(folder, cfg[side], f"[responses] {side}")
            data = read_surface_responses(side_path)
            if n_hemi is not None and data.shape[1] != n_hemi:
                raise ValueError(
                    f"{side_path} has {data.shape[1]} vertices but {space_name} has "
                    f"{n_hemi} per hemisphere; fix `space` in the TOML"
                )
            parts.append(data)
            verts.append(np.arange(data.shape[1]) + h * (n_hemi or 0))
        if len({p.shape[0] for p in parts}) > 1:
            raise ValueError(f"the hemisphere files have different image counts: {cfg}")
        resp = np.concatenate(parts, axis=1)
        if n_hemi is None:
            return resp, Space(space_name, resp.shape[1])
        full = len(parts) == 2
        return resp, Space.surface(space_name, None if full else np.concatenate(verts))
    if "path" not in cfg:
        raise ValueError("[responses] needs `path` (or `left` / `right` for surface files)")
    path = inside(folder, cfg["path"], "[responses] path")
    if not path.exists():
        raise FileNotFoundError(f"responses file {path} does not exist; fix [responses] path")
    name = path.name.lower()
    if name.endswith(".npy"):
        resp = np.load(path, mmap_mode="r")
    elif name.endswith((".h5", ".hdf5")):
        import h5py

        f = h5py.File(path, "r")
        key = cfg.get("dataset", "responses")
        if key not in f:
            raise KeyError(
                f"{path} has no dataset {key!r}; it has {list(f)}; set [responses] dataset"
            )
        resp = f[key]
    elif name.endswith((".nii", ".nii.gz")):
        img = nib.load(str(path))
        vol = np.asarray(img.dataobj, np.float32)
        if vol.ndim != 4:
            raise ValueError(f"{path} has shape {vol.shape}; expected 4-D (X, Y, Z, n_images)")
        if "mask" in cfg:
            mask_path = inside(folder, cfg["mask"], "[responses] mask")
            mask = np.asarray(nib.load(str(mask_path)).dataobj) > 0
            if mask.shape != vol.shape[:3]:
                raise ValueError(
                    f"mask {cfg['mask']} has shape {mask.shape}; expected {vol.shape[:3]}"
                )
        else:
            mask = np.isfinite(vol).all(-1) & (vol.std(-1) > 0)
        resp = vol.reshape(-1, vol.shape[-1])[mask.ravel()].T
        return np.ascontiguousarray(resp), Space(
            space_name, resp.shape[1], mask=mask, affine=img.affine
        )
    elif name.endswith((".mgh", ".mgz", ".gii")):
        resp = read_surface_responses(path)
    else:
        raise ValueError(f"{path}: unsupported responses format; use npy, h5, nii.gz, gii or mgh")
    if resp.ndim != 2:
        raise ValueError(f"{path} has shape {resp.shape}; expected (n_images, n_targets)")
    if space_name in SURFACE_VERTICES:
        n = resp.shape[1]
        if n != 2 * SURFACE_VERTICES[space_name]:
            raise ValueError(
                f"{path} has {n} targets but {space_name} has {2 * SURFACE_VERTICES[space_name]} "
                "vertices (both hemispheres); fix `space` or give `left` / `right` files"
            )
        return resp, Space.surface(space_name)
    return resp, Space(space_name, resp.shape[1])


def _image_paths(cfg: dict, folder: Path) -> list[Path]:
    img_dir = inside(folder, cfg.get("folder", "images"), "[images] folder")
    if "list" in cfg:
        listing = inside(folder, cfg["list"], "[images] list")
        names = [s.strip() for s in listing.read_text().splitlines() if s.strip()]
        return [inside(img_dir, n, f"image name in {listing}") for n in names]
    if not img_dir.is_dir():
        raise FileNotFoundError(f"image folder {img_dir} does not exist; fix [images] folder")
    pattern = cfg.get("pattern", "*.png")
    inside(img_dir, pattern, "[images] pattern")
    paths = sorted(img_dir.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no images matching {cfg.get('pattern', '*.png')!r} in {img_dir}")
    return paths


def load_byo(path, subject: str | None = None, *, image_size: int | None = None) -> BrainData:
    """Load a bring-your-own dataset described by a TOML file.

    Parameters
    ----------
    path : path-like
        The TOML description. Paths inside it are relative to its folder and must stay inside
        it (absolute paths and `..` leading out are refused).
    subject : str, optional
        Expected subject; a description of another subject raises ``ValueError``.
    image_size : int, optional
        Side images are resized to on load.

    Returns
    -------
    BrainData
    """
    path = Path(path)
    cfg = _read_toml(path)
    folder = path.parent
    ds = cfg.get("dataset", {})
    if subject is not None and str(ds.get("subject")) != str(subject):
        raise ValueError(
            f"{path} describes subject {ds.get('subject')!r}, not {subject!r}; pass the "
            "description of the subject you want"
        )
    resp, space = _responses(cfg.get("responses", {}), folder)
    paths = _image_paths(cfg.get("images", {}), folder)
    n = resp.shape[0]
    if len(paths) != n:
        raise ValueError(
            f"{path}: {len(paths)} images but the responses have {n} rows; both must index the "
            "same images (check [images] pattern / list)"
        )
    split = cfg.get("split", {})
    if "test" in split:
        test_file = inside(folder, split["test"], "[split] test")
        lines = [s.strip() for s in test_file.read_text().splitlines() if s.strip()]
        if all(s.lstrip("-").isdigit() for s in lines):
            test = np.array([int(s) for s in lines], np.int64)
        else:
            index = {p.name: i for i, p in enumerate(paths)}
            unknown = [s for s in lines if s not in index]
            if unknown:
                raise ValueError(
                    f"{split['test']} names images not in the image list: {unknown[:3]}"
                )
            test = np.array([index[s] for s in lines], np.int64)
    else:
        frac = float(split.get("test_fraction", 0.1))
        rng = np.random.default_rng(int(split.get("seed", 0)))
        test = np.sort(rng.choice(n, max(1, round(frac * n)), replace=False))
    train = np.setdiff1d(np.arange(n), test)

    rois = {}
    for name, spec in cfg.get("rois", {}).items():
        spec = {"path": spec} if isinstance(spec, str) else spec
        arr = np.load(inside(folder, spec["path"], f"[rois] {name} path"))
        if arr.shape != (space.n_targets,):
            raise ValueError(
                f"ROI {name!r} ({spec['path']}) has shape {arr.shape}; expected "
                f"({space.n_targets},), one value per target"
            )
        if "ctab" in spec:
            ctab = read_ctab(inside(folder, spec["ctab"], f"[rois] {name} ctab"))
            rois.update(label_masks(arr, ctab, group=name))
        else:
            rois[name] = arr.astype(bool)

    nc_cfg = cfg.get("noise_ceiling", {})
    noise_ceiling = None
    if "path" in nc_cfg:
        noise_ceiling = np.load(inside(folder, nc_cfg["path"], "[noise_ceiling] path"))
    elif "ncsnr" in nc_cfg:
        from ..metrics import noise_ceiling as nc_from_ncsnr

        noise_ceiling = nc_from_ncsnr(
            np.load(inside(folder, nc_cfg["ncsnr"], "[noise_ceiling] ncsnr")),
            nc_cfg.get("n_averaged", 1),
        )
    meta = {
        "dataset": ds.get("name", path.stem),
        "subject": ds.get("subject"),
        "space": space.name,
        "source": str(path),
    }
    return BrainData(
        responses=resp,
        images=FileImages(paths, size=image_size),
        train=train,
        test=test,
        space=space,
        rois=rois,
        noise_ceiling=noise_ceiling,
        meta=meta,
    )
