"""fsaverage meshes and sulcal depth, offline: nilearn's bundled fsaverage5 or its data cache."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from nilearn import datasets
from nilearn.surface import InMemoryMesh, PolyMesh, load_surf_data, load_surf_mesh

from ..data.manifest import default_data_dir
from ..data.space import HEMISPHERES, SURFACE_VERTICES

#: Mesh kinds (``load_fsaverage`` keys) and the file prefix nilearn stores each under.
SURFACES = {
    "inflated": "infl",
    "pial": "pial",
    "white_matter": "white",
    "sphere": "sphere",
    "flat": "flat",
}
_FILE_KINDS = ("area", "curv", "flat", "infl", "pial", "sphere", "sulc", "thick", "white")
#: fsaverage's FreeSurfer surfaces in the NSD download (under ``<data_dir>/nsd/``).
NSD_SURFACES = "nsddata/freesurfer/fsaverage/surf"
_NSD_NAMES = {
    "infl": "inflated",
    "pial": "pial",
    "white": "white",
    "sphere": "sphere",
    "sulc": "sulc",
}


def _fsaverage_files(space_name: str) -> dict[str, str]:
    """Paths of an fsaverage mesh's files (``"infl_left"``, ``"sulc_right"``, ...), offline.

    fsaverage5 ships with nilearn. Other meshes are used from nilearn's data cache when every file
    nilearn would fetch is already there (so that nilearn never tries to download), and the full
    fsaverage also from the NSD download (FreeSurfer files, without a flat map).
    """
    if space_name not in SURFACE_VERTICES:
        raise ValueError(f"unknown surface {space_name!r}; known: {sorted(SURFACE_VERTICES)}")
    if space_name == "fsaverage5":
        return dict(datasets.fetch_surf_fsaverage("fsaverage5"))
    names = [f"{kind}_{hemi}.gii.gz" for kind in _FILE_KINDS for hemi in HEMISPHERES]
    roots = [Path(d) for d in datasets.get_data_dirs()]
    for root in roots:
        if all((root / space_name / name).is_file() for name in names):
            return dict(datasets.fetch_surf_fsaverage(space_name, data_dir=root))
    searched = [str(root / space_name) for root in roots]
    if space_name == "fsaverage":
        nsd = _nsd_files()
        if all(Path(path).is_file() for path in nsd.values()):
            return nsd
        searched.append(str(Path(next(iter(nsd.values()))).parent))
    raise FileNotFoundError(
        f"the {space_name} mesh is not bundled with nilearn and was not found (searched "
        f"{', '.join(searched)}); fetch it once while online with "
        f"nilearn.datasets.fetch_surf_fsaverage({space_name!r}) (NILEARN_DATA sets where it goes)"
        + (f", or download NSD's {NSD_SURFACES} files" if space_name == "fsaverage" else "")
        + ", or draw fsaverage5 data, whose mesh ships with nilearn"
    )


def _nsd_files() -> dict[str, str]:
    """Where the NSD download keeps fsaverage's FreeSurfer surfaces, by nilearn's file keys."""
    folder = default_data_dir() / "nsd" / NSD_SURFACES
    return {
        f"{kind}_{hemi}": str(folder / f"{prefix}.{name}")
        for kind, name in _NSD_NAMES.items()
        for hemi, prefix in zip(HEMISPHERES, ("lh", "rh"), strict=True)
    }


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def mesh(space_name: str = "fsaverage5", surf: str = "inflated") -> PolyMesh:
    """The nilearn mesh of an fsaverage surface space, both hemispheres, loaded once.

    Parameters
    ----------
    space_name : str
        ``"fsaverage5"`` (bundled with nilearn), or ``"fsaverage"``, ``"fsaverage6"``,
        ``"fsaverage4"`` when nilearn's data cache already holds them; ``"fsaverage"`` also from
        the NSD download (``<data_dir>/nsd/`` + :data:`NSD_SURFACES`; no flat map there).
        Nothing is downloaded.
    surf : {"inflated", "pial", "white_matter", "sphere", "flat"}
        Which surface of the mesh.

    Returns
    -------
    PolyMesh
        ``.parts["left"]`` and ``.parts["right"]`` are in-memory meshes with ``coordinates`` of
        shape (n_vertices, 3) and ``faces`` of shape (n_faces, 3). The arrays are shared between
        calls and read-only: copy them before changing them.

    Raises
    ------
    FileNotFoundError
        The mesh is neither bundled nor cached; the message says how to fetch it.
    ValueError
        The cached mesh does not have the vertex count of ``space_name``.
    """
    return _load_mesh(space_name, surf)


@lru_cache(maxsize=8)
def _load_mesh(space_name: str, surf: str) -> PolyMesh:
    if surf not in SURFACES:
        raise ValueError(f"unknown surface kind {surf!r}; known: {sorted(SURFACES)}")
    files = _fsaverage_files(space_name)
    if f"{SURFACES[surf]}_left" not in files:
        raise FileNotFoundError(
            f"the {space_name} files found ({Path(files['infl_left']).parent}) have no {surf} "
            f"surface; fetch nilearn's with nilearn.datasets.fetch_surf_fsaverage({space_name!r})"
        )
    parts = {}
    for hemi in HEMISPHERES:
        path = files[f"{SURFACES[surf]}_{hemi}"]
        loaded = load_surf_mesh(path)
        if loaded.coordinates.shape[0] != SURFACE_VERTICES[space_name]:
            raise ValueError(
                f"{path} has {loaded.coordinates.shape[0]} vertices but a {space_name} "
                f"hemisphere has {SURFACE_VERTICES[space_name]}; delete nilearn's {space_name} "
                "folder and fetch it again"
            )
        parts[hemi] = InMemoryMesh(_read_only(loaded.coordinates), _read_only(loaded.faces))
    return PolyMesh(**parts)


@lru_cache(maxsize=8)
def _sulcal_depth(space_name: str) -> dict[str, np.ndarray]:
    """FreeSurfer sulcal depth per hemisphere, arrays of shape (n_vertices,), read-only."""
    files = _fsaverage_files(space_name)
    return {
        hemi: _read_only(np.asarray(load_surf_data(files[f"sulc_{hemi}"]), dtype=float))
        for hemi in HEMISPHERES
    }
