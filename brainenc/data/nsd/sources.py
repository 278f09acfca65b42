"""The two shapes of an NSD subject that preparation streams from, one per space.

A source knows its targets (:meth:`space`), reads one part of one session's betas as
(n_trials, n_targets_part) float32 (:meth:`read`; ``parts`` lists the parts: the hemispheres of
``fsaverage``, the one volume of ``func1pt8mm``), and reads the ROIs and ``ncsnr`` of its targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats import load_mgh, read_surface_map
from ..manifest import HEMISPHERES
from ..space import SURFACE_VERTICES, Space
from .betas import (
    BETAS_SCALE_INT16,
    read_session_surface,
    read_volume_betas,
    readable,
)
from .design import TRIALS_PER_SESSION
from .rois import read_surface_rois, read_volume_rois


class SurfaceSource:
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
                n = load_mgh(f).shape[0]
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
                for h in HEMISPHERES.values()
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
        block = read_session_surface(self.betas[session][part], self.n_hemi)
        if self.keep[part] is not None:
            block = np.ascontiguousarray(block[:, self.keep[part]])
        return block, self.offsets[part]

    def _select(self, per_hemi: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [v if k is None else v[k] for v, k in zip(per_hemi, self.keep, strict=True)]
        )

    def rois(self) -> dict:
        return read_surface_rois(self._p, self._ctab, self._select, self.n_hemi, self.atlases)

    def _ctab(self, label):
        return self.manifest.local_path(self.root, "ctab", subject=self.subject, label=label)

    def ncsnr(self):
        files = [self._p("ncsnr", hemi=h) for h in HEMISPHERES.values()]
        if not all(f.exists() for f in files):
            return None
        return self._select([read_surface_map(f, self.n_hemi) for f in files]).astype(np.float64)


class VolumeSource:
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
            with readable(path), h5py.File(path, "r"):
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

            with readable(path), h5py.File(path, "r") as f:
                if "betas" not in f:
                    raise ValueError(f"{path} has no dataset 'betas'; it has {list(f)}")
                ds = f["betas"]
                expected = (TRIALS_PER_SESSION, *self.grid[::-1])
                if ds.shape != expected:
                    raise ValueError(f"{path} has shape {ds.shape}; expected {expected}")
                read_volume_betas(ds, self.flat, self.grid, out=out)
        else:
            import nibabel as nib

            with readable(path):
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
        return read_volume_rois(self._p, self._ctab, self._volume, self.flat)

    def _ctab(self, label):
        return self.manifest.local_path(self.root, "ctab", subject=self.subject, label=label)

    def ncsnr(self):
        path = self._p("ncsnr")
        if not path.exists():
            return None
        return self._volume(path).ravel()[self.flat].astype(np.float64)
