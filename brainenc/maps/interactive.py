"""Interactive surface views: a standalone HTML page (nilearn's ``view_surf``, plotly engine)."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.colors import Colormap
from nilearn._utils.html_document import HTMLDocument
from nilearn.plotting import view_surf
from nilearn.surface import PolyMesh

from ..data.brain_data import BrainData
from ..data.space import HEMISPHERES, Space
from ..files import write_atomically
from .cortical_map import CorticalMap, as_map
from .fsaverage import _sulcal_depth, mesh
from .surface import _hemisphere_values, _space_and_rois


def view_surface(
    values: np.ndarray | CorticalMap,
    space: Space | BrainData,
    *,
    title: str | None = None,
    cmap: str | Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    surf: str = "inflated",
    out: str | os.PathLike | None = None,
) -> HTMLDocument:
    """An interactive 3-D view of one value per target on both hemispheres, for a browser.

    The page embeds its JavaScript (plotly), so it works offline and can be sent as one file.
    Targets whose value is NaN, and mesh vertices that are not targets, show the sulcal
    background.

    Parameters
    ----------
    values : CorticalMap or array of shape (n_targets,)
        A continuous map (categorical maps need :func:`plot_surface`'s legend).
    space : Space or BrainData
        A surface space, as in :func:`~brainenc.maps.plot_surface`.
    title, cmap, vmin, vmax, threshold :
        As in :func:`~brainenc.maps.plot_surface`.
    surf : {"inflated", "pial", "white_matter", "sphere"}
        Which surface of the mesh.
    out : path, optional
        Also write the page there, atomically.

    Returns
    -------
    nilearn's SurfaceView (an ``HTMLDocument``)
        Shows itself in a notebook; ``.save_as_html(path)`` writes it.
    """
    cortical_map = as_map(values, title=title, cmap=cmap, vmin=vmin, vmax=vmax)
    if cortical_map.categories is not None:
        raise ValueError(
            f"view_surface draws continuous maps; {cortical_map.title or 'this map'!r} is "
            "categorical. Draw it with plot_surface, whose legend names the categories"
        )
    space, _ = _space_and_rois(space, None)
    per_hemi = _hemisphere_values(cortical_map.values, space)
    vmin, vmax = cortical_map.colour_range()
    surfaces = mesh(space.name, surf)
    depth = _sulcal_depth(space.name)
    view = view_surf(
        PolyMesh(**{hemi: surfaces.parts[hemi] for hemi in HEMISPHERES}),
        np.concatenate([per_hemi[hemi] for hemi in HEMISPHERES]),
        bg_map=np.concatenate([depth[hemi] for hemi in HEMISPHERES]),
        hemi="both",
        cmap=cortical_map.colormap(),
        vmin=vmin,
        vmax=vmax,
        symmetric_cmap=False,
        threshold=threshold,
        title=cortical_map.title,
        title_fontsize=16,
        colorbar_fontsize=12,
        engine="plotly",
    )
    if out is not None:
        write_atomically(out, view.save_as_html)
    return view
