"""Where the targets of a dataset live: a cortical surface or a voxel grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .manifest import HEMISPHERES  # noqa: F401 (the maps import it from here)

#: Vertices per hemisphere of the FreeSurfer fsaverage family.
SURFACE_VERTICES = {
    "fsaverage": 163842,
    "fsaverage6": 40962,
    "fsaverage5": 10242,
    "fsaverage4": 2562,
}


@dataclass
class Space:
    """The coordinate frame of a dataset's targets.

    Surface spaces (``fsaverage``, ``fsaverage5``, ...) index vertices of both hemispheres, the left
    one first; ``vertices`` says which mesh vertex each target is (all of them, in order, when
    ``None``). Volume spaces (``func1pt8mm``, ...) index the ``True`` voxels of ``mask`` in C order,
    with ``affine`` mapping voxel to world coordinates.

    Parameters
    ----------
    name : str
        ``"fsaverage"``, ``"fsaverage5"``, ``"func1pt8mm"``, or any name for a custom space.
    n_targets : int
        Number of targets (columns of the responses).
    vertices : array of shape (n_targets,), optional
        Surface spaces only: index of each target into the concatenated left+right mesh.
    mask : bool array of shape (X, Y, Z), optional
        Volume spaces only: which voxels are targets.
    affine : array of shape (4, 4), optional
        Volume spaces only: voxel-to-world transform.
    """

    name: str
    n_targets: int
    vertices: np.ndarray | None = None
    mask: np.ndarray | None = None
    affine: np.ndarray | None = None

    def __post_init__(self):
        if self.vertices is not None:
            self.vertices = np.asarray(self.vertices, dtype=np.int64)
            if self.vertices.shape != (self.n_targets,):
                raise ValueError(
                    f"space {self.name!r}: vertices has shape {self.vertices.shape} but there are "
                    f"{self.n_targets} targets; give one mesh vertex index per target"
                )
        if self.is_surface:
            n_mesh = 2 * SURFACE_VERTICES[self.name]
            if self.vertices is None and self.n_targets != n_mesh:
                raise ValueError(
                    f"space {self.name!r} has {n_mesh} vertices (both hemispheres) but "
                    f"{self.n_targets} targets were given; pass vertices= to use a subset"
                )
            if self.vertices is not None and (
                self.vertices.min(initial=0) < 0 or self.vertices.max(initial=0) >= n_mesh
            ):
                raise ValueError(f"space {self.name!r}: vertex indices must lie in [0, {n_mesh})")
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)
            if int(self.mask.sum()) != self.n_targets:
                raise ValueError(
                    f"space {self.name!r}: mask selects {int(self.mask.sum())} voxels but there "
                    f"are {self.n_targets} targets"
                )

    @classmethod
    def surface(cls, name: str = "fsaverage5", vertices: np.ndarray | None = None) -> Space:
        """A surface space of the fsaverage family (all vertices, or a subset)."""
        if name not in SURFACE_VERTICES:
            raise ValueError(f"unknown surface {name!r}; known: {sorted(SURFACE_VERTICES)}")
        n = 2 * SURFACE_VERTICES[name] if vertices is None else len(vertices)
        return cls(name=name, n_targets=n, vertices=vertices)

    @property
    def is_surface(self) -> bool:
        return self.name in SURFACE_VERTICES

    @property
    def mesh_vertices(self) -> np.ndarray:
        """Index of each target into the concatenated left+right mesh (surface spaces)."""
        if not self.is_surface:
            raise ValueError(f"space {self.name!r} is not a surface space")
        if self.vertices is None:
            return np.arange(self.n_targets)
        return self.vertices

    def hemisphere_values(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Scatter per-target values onto each hemisphere's full mesh (NaN where no target)."""
        values = np.asarray(values, dtype=float)
        if values.shape != (self.n_targets,):
            raise ValueError(
                f"values has shape {values.shape}; expected ({self.n_targets},), one per target"
            )
        n_hemi = SURFACE_VERTICES[self.name]
        full = np.full(2 * n_hemi, np.nan)
        full[self.mesh_vertices] = values
        return {"left": full[:n_hemi], "right": full[n_hemi:]}

    def to_dict(self) -> dict:
        """JSON-friendly description (without the large arrays)."""
        return {"name": self.name, "n_targets": self.n_targets}
