"""Values over surface targets drawn on the fsaverage mesh: lateral and ventral views."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from nilearn.plotting import plot_surf, plot_surf_contours
from nilearn.surface import InMemoryMesh

from ..data.brain_data import BrainData
from ..data.space import HEMISPHERES, Space
from .fsaverage import _sulcal_depth, mesh

#: (elevation, azimuth) per hemisphere and view. A hemisphere's ventral view is its lateral view
#: rolled under, so both keep its anterior end on the same side (left for the left hemisphere).
VIEWS = {
    "left": {"lateral": (0, 180), "ventral": (270, 0)},
    "right": {"lateral": (0, 0), "ventral": (270, 180)},
}
#: Outline colours of the ROIs, in order (cycled); chosen to stand out on the default inferno.
ROI_COLORS = (
    "#17becf", "#2ca02c", "#e377c2", "#1f77b4", "#d62728", "#9467bd",
    "#00ff7f", "#8c564b", "#ff00ff", "#000080", "#bcbd22", "#00ced1",
)  # fmt: skip
_FILL = 0.94  # fraction of a view's axes width that the longest mesh extent spans
_CUBE_SPAN = 0.6  # fraction of a 3-D axes width that a cube's side spans at zoom 1 (orthographic)
_LEGEND_COLUMNS = 6
_BACKGROUND = (0.15, 0.5)  # sulcal depth drawn as greys from light (gyri) to mid (sulci)


def plot_surface(
    values: np.ndarray,
    space: Space | BrainData,
    *,
    rois: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
    cmap: str | Colormap = "inferno",
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    colorbar_label: str | None = None,
    surf: str = "inflated",
    out: str | os.PathLike | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw one value per target on the cortical surface: both hemispheres, lateral and ventral.

    A 2 × 2 figure (columns: left and right hemisphere; rows: lateral and ventral view) over the
    sulcal depth in greys, with one shared colorbar and ROI outlines named in a legend. Mesh
    vertices that are not targets of ``space``, and targets whose value is NaN, show the
    background; a mesh face is coloured only when its three vertices have values.

    Parameters
    ----------
    values : array of shape (n_targets,)
        One value per target of the space, in its order (left hemisphere first).
    space : Space or BrainData
        A surface space (``fsaverage5``; ``fsaverage``, ``fsaverage6``, ``fsaverage4`` when
        nilearn's cache holds their mesh), or a dataset whose ``space`` and ``rois`` are used.
    rois : dict of str to bool array of shape (n_targets,), optional
        Regions to outline, one colour each (:data:`ROI_COLORS`); default: the dataset's ROIs
        when ``space`` is a :class:`BrainData`, none otherwise. A region is outlined on a
        hemisphere where it covers at least one mesh face edge, and named in the legend when it
        is outlined somewhere.
    title : str, optional
        Figure title.
    cmap : str or Colormap
        Matplotlib colormap of the values.
    vmin, vmax : float, optional
        Colour range, shared by the four views; default: the range of the finite values.
    threshold : float, optional
        Values whose magnitude is below it show the background (as in nilearn).
    colorbar_label : str, optional
        Label under the colorbar.
    surf : {"inflated", "pial", "white_matter", "sphere"}
        Which surface of the mesh to draw.
    out : path, optional
        Also save the figure there, atomically (temporary file, then rename); the format comes
        from the suffix, PNG when there is none.
    dpi : int
        Resolution of the saved file, in dots per inch.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not registered with pyplot: no backend or other global matplotlib state is
        touched, and nothing needs closing. Save it with ``savefig`` or show it in a notebook.

    Raises
    ------
    ValueError
        ``values`` or an ROI mask does not have one entry per target, the space is a volume
        space, or the colour range is empty.
    FileNotFoundError
        The space's mesh is neither bundled with nilearn nor in its cache.
    """
    space, rois = _space_and_rois(space, rois)
    surface_values = _hemisphere_values(values, space)
    vmin, vmax = _colour_range(np.concatenate(list(surface_values.values())), vmin, vmax)
    roi_masks = _roi_masks(rois, space)
    colors = {name: ROI_COLORS[i % len(ROI_COLORS)] for i, name in enumerate(roi_masks)}
    if surf not in ("inflated", "pial", "white_matter", "sphere"):
        raise ValueError(
            f"surf={surf!r} cannot be shown in lateral and ventral views; use 'inflated', "
            "'pial', 'white_matter' or 'sphere'"
        )
    meshes = mesh(space.name, surf)
    outlines = _outlines(roi_masks, meshes)
    sulcal_depth = _sulcal_depth(space.name)
    layout = _Layout(meshes, title is not None, len(outlines))
    fig = Figure(figsize=layout.size)
    for column, hemi in enumerate(HEMISPHERES):
        part = meshes.parts[hemi]
        background = _background(sulcal_depth[hemi])
        for row, view in enumerate(VIEWS[hemi]):
            ax = fig.add_axes(layout.panel(row, column), projection="3d")
            # nilearn centres the coordinates it is given, in place: give it a copy
            hemi_mesh = InMemoryMesh(part.coordinates.copy(), part.faces)
            plot_surf(
                hemi_mesh,
                surface_values[hemi],
                bg_map=background,
                hemi=hemi,
                view=VIEWS[hemi][view],
                cmap=cmap,
                colorbar=False,
                threshold=threshold,
                vmin=vmin,
                vmax=vmax,
                axes=ax,
                figure=fig,
            )
            for name, masks in outlines.items():
                if hemi in masks:
                    plot_surf_contours(
                        hemi_mesh,
                        masks[hemi].astype(int),
                        hemi=hemi,
                        levels=[1],
                        colors=[colors[name]],
                        axes=ax,
                        figure=fig,
                    )
            layout.frame(ax, hemi_mesh.coordinates)
            fig.text(*layout.label(row, column), f"{hemi} {view}", va="top", color="0.35")

    cbar = fig.colorbar(
        ScalarMappable(Normalize(vmin, vmax), cmap),
        cax=fig.add_axes(layout.colorbar),
        orientation="horizontal",
        label=colorbar_label,
    )
    if threshold is not None:  # grey out the hidden range, as nilearn does
        cbar.ax.axvspan(max(-threshold, vmin), min(threshold, vmax), color="0.75")
    if outlines:
        fig.legend(
            handles=[Patch(color=colors[name], label=name) for name in outlines],
            loc="lower center",
            bbox_to_anchor=layout.legend,
            ncols=min(len(outlines), _LEGEND_COLUMNS),
            frameon=False,
            fontsize="small",
        )
    if title is not None:
        fig.suptitle(title, y=1 - 0.08 / layout.size[1], va="top")
    if out is not None:
        _save_atomically(fig, Path(out), dpi)
    return fig


class _Layout:
    """Where the four views go, in inches, so that each mesh fills its panel at true scale.

    matplotlib's 3-D axes are always square; each view gets a square axes, centred on its
    panel and overlapping its neighbours (their backgrounds are transparent), and a camera
    whose box is a cube of the meshes' longest extent, ``_FILL`` of the axes width.
    """

    width = 9.0  # inches; two columns of square axes
    pad = 0.3  # inches above each view, for its label
    colorbar_band = 0.85  # inches under the views (and the legend) for the colorbar
    legend_row = 0.22  # inches per row of the legend, between the views and the colorbar

    def __init__(self, meshes, titled: bool, n_rois: int):
        coords = [meshes.parts[hemi].coordinates for hemi in HEMISPHERES]
        self.extent = np.max([np.ptp(c, axis=0) for c in coords], axis=0)  # x, y, z (mm)
        self.side = self.width / 2
        inch_per_mm = _FILL * self.side / self.extent.max()
        # lateral views show the z extent, ventral views the x extent
        self.rows = [
            inch_per_mm * self.extent[2] + self.pad,
            inch_per_mm * self.extent[0] + self.pad,
        ]
        self.top = 0.5 if titled else 0.1
        self.bottom = self.colorbar_band + self.legend_row * -(-n_rois // _LEGEND_COLUMNS)
        self.size = (self.width, self.top + sum(self.rows) + self.bottom)

    def _cell_bottom(self, row: int) -> float:
        return self.bottom + sum(self.rows[row + 1 :])

    def panel(self, row: int, column: int) -> tuple[float, float, float, float]:
        """Axes rectangle (figure fraction) of a view: a square centred on its mesh area."""
        width, height = self.size
        cx = (column + 0.5) * self.side
        cy = self._cell_bottom(row) + (self.rows[row] - self.pad) / 2
        return (
            (cx - self.side / 2) / width,
            (cy - self.side / 2) / height,
            self.side / width,
            self.side / height,
        )

    def label(self, row: int, column: int) -> tuple[float, float]:
        """Figure-fraction position of a view's label: its panel's top-left corner."""
        top = self._cell_bottom(row) + self.rows[row]
        return (column * self.side + 0.2) / self.width, (top - 0.05) / self.size[1]

    @property
    def colorbar(self) -> tuple[float, float, float, float]:
        return 0.3, 0.5 / self.size[1], 0.4, 0.14 / self.size[1]

    @property
    def legend(self) -> tuple[float, float]:
        return 0.5, (self.colorbar_band - 0.1) / self.size[1]

    def frame(self, ax, coordinates: np.ndarray) -> None:
        """Point an axes' orthographic camera at a cube of the longest extent around the mesh."""
        middle = (coordinates.min(axis=0) + coordinates.max(axis=0)) / 2
        half = self.extent.max() / 2
        ax.set_xlim(middle[0] - half, middle[0] + half)
        ax.set_ylim(middle[1] - half, middle[1] + half)
        ax.set_zlim(middle[2] - half, middle[2] + half)
        ax.set_proj_type("ortho")
        ax.patch.set_visible(False)  # the square axes overlap: no background may hide a neighbour
        ax.set_box_aspect((1, 1, 1), zoom=_FILL / _CUBE_SPAN)


def _space_and_rois(space, rois) -> tuple[Space, dict[str, np.ndarray]]:
    if isinstance(space, BrainData):
        rois = space.rois if rois is None else rois
        space = space.space
    elif not isinstance(space, Space):
        raise TypeError(f"space must be a Space or a BrainData; got {type(space).__name__}")
    if not space.is_surface:
        raise ValueError(
            f"space {space.name!r} is a volume space; only surface spaces (fsaverage, "
            "fsaverage5, ...) can be drawn on the cortical surface. Use data in a surface space "
            "(e.g. NSD's fsaverage betas), or project the volume onto fsaverage with "
            "nilearn.surface.vol_to_surf first"
        )
    return space, dict(rois or {})


def _hemisphere_values(values, space: Space) -> dict[str, np.ndarray]:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.shape[0] != space.n_targets:
        raise ValueError(
            f"values has shape {values.shape} ({values.size} values) but space {space.name!r} "
            f"has {space.n_targets} targets; give one value per target, left hemisphere first"
        )
    return space.hemisphere_values(values)


def _colour_range(values: np.ndarray, vmin, vmax) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    data_low, data_high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    low = data_low if vmin is None else float(vmin)
    high = data_high if vmax is None else float(vmax)
    if vmin is None and vmax is None and low == high:  # a constant map: centre its colour
        low, high = low - 0.5, high + 0.5
    if not low < high:
        raise ValueError(f"the colour range is empty: vmin={low} is not below vmax={high}")
    return low, high


def _roi_masks(rois: Mapping[str, np.ndarray], space: Space) -> dict[str, dict]:
    """Each ROI as a bool mask over each hemisphere's mesh vertices."""
    masks = {}
    for name, mask in rois.items():
        mask = np.asarray(mask)
        if mask.shape != (space.n_targets,) or mask.dtype != bool:
            raise ValueError(
                f"ROI {name!r} must be a boolean mask of shape ({space.n_targets},), one entry "
                f"per target of space {space.name!r}; got {mask.dtype} {mask.shape}"
            )
        per_hemi = space.hemisphere_values(mask.astype(float))
        masks[name] = {hemi: per_hemi[hemi] == 1 for hemi in HEMISPHERES}
    return masks


def _outlines(roi_masks: dict[str, dict], meshes) -> dict[str, dict]:
    """The ROI masks on the hemispheres where nilearn can outline them; no entry for the others.

    nilearn outlines a region by the faces on its edge, so it needs a face with two of its
    vertices in the region; ROIs outlinable on neither hemisphere are left out.
    """
    outlines = {}
    for name, masks in roi_masks.items():
        kept = {
            hemi: mask
            for hemi, mask in masks.items()
            if (mask[meshes.parts[hemi].faces].sum(axis=1) >= 2).any()
        }
        if kept:
            outlines[name] = kept
    return outlines


def _background(sulcal_depth: np.ndarray) -> np.ndarray:
    """Sulcal depth rescaled to grey levels in ``_BACKGROUND`` (shape (n_vertices,))."""
    low, high = np.nanmin(sulcal_depth), np.nanmax(sulcal_depth)
    return _BACKGROUND[0] + np.diff(_BACKGROUND)[0] * (sulcal_depth - low) / (high - low)


def _save_atomically(fig: Figure, out: Path, dpi: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format=out.suffix[1:] or "png", dpi=dpi)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
