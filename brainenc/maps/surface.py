"""Values over surface targets drawn on the fsaverage mesh: lateral, medial, ventral, flat views."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke
from nilearn.plotting import plot_surf
from nilearn.surface import InMemoryMesh

from ..data.brain_data import BrainData
from ..data.space import HEMISPHERES, Space
from .cortical_map import CorticalMap, as_map
from .figure import LEGEND_COLUMNS, add_colour_key, key_height, save_atomically
from .fsaverage import _sulcal_depth, mesh
from .outlines import OUTLINE_COLOR, OUTLINE_HALO, LabelPlacer, draw_outlines, outline_lines

#: (elevation, azimuth) of each hemisphere's camera per view. A hemisphere's ventral view is its
#: lateral view rolled under, so both keep its anterior end on the same side (left for the left
#: hemisphere); the flat map is seen from above, anterior up.
VIEWS = {
    "left": {"lateral": (0, 180), "medial": (0, 0), "ventral": (270, 0), "flat": (90, 270)},
    "right": {"lateral": (0, 0), "medial": (0, 180), "ventral": (270, 180), "flat": (90, 270)},
}
DEFAULT_VIEWS = ("lateral", "medial", "ventral")
_VERTICAL = {"lateral": 2, "medial": 2, "ventral": 0, "flat": 1}  # mesh axis shown upright
_SURFACES_3D = ("inflated", "pial", "white_matter", "sphere")
_FILL = 0.94  # fraction of a view's axes width that the longest mesh extent spans
_CUBE_SPAN = 0.6  # fraction of a 3-D axes width that a cube's side spans at zoom 1 (orthographic)
_BACKGROUND = (0.15, 0.5)  # sulcal depth drawn as greys from light (gyri) to mid (sulci)


def plot_surface(
    values: np.ndarray | CorticalMap,
    space: Space | BrainData,
    *,
    views: Sequence[str] = DEFAULT_VIEWS,
    rois: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
    cmap: str | Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    colorbar_label: str | None = None,
    categories: Sequence[str] | None = None,
    surf: str = "inflated",
    out: str | os.PathLike | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw one value per target on the cortical surface: both hemispheres, several views.

    One row per view (lateral, medial, ventral of the inflated surface, and the flat map), one
    column per hemisphere, over the sulcal depth in greys, with a colour bar (or a legend of the
    categories) and labelled ROI outlines, named in a legend. Mesh vertices that are not targets of
    ``space``, and targets whose value is NaN, show the background: missing is never drawn as a
    value. A mesh face is coloured only when its three vertices have values.

    Parameters
    ----------
    values : CorticalMap or array of shape (n_targets,)
        One value per target of the space, in its order (left hemisphere first). A
        :class:`CorticalMap` (see :mod:`brainenc.maps.kinds`) brings its title, colormap, range,
        label and categories; the keyword arguments below override them.
    space : Space or BrainData
        A surface space (``fsaverage5``; ``fsaverage``, ``fsaverage6``, ``fsaverage4`` when
        their mesh is found, see :func:`~brainenc.maps.mesh`), or a dataset whose ``space`` and
        ``rois`` are used.
    views : sequence of {"lateral", "medial", "ventral", "flat"}
        The rows of the figure, top to bottom.
    rois : dict of str to bool array of shape (n_targets,), optional
        Regions to outline; default: the dataset's ROIs when ``space`` is a
        :class:`BrainData`, none otherwise. Outlines are smooth lines in one colour that no
        colormap uses, black on a white halo (:mod:`brainenc.maps.outlines`), so that they
        show on every map. A region is outlined on a view where it covers at least one mesh
        face edge; it is labelled where its centre faces the camera and a place for its label
        is free (labels never overlap, see :class:`~brainenc.maps.outlines.LabelPlacer`); it
        is named in the legend when it is outlined somewhere (unless the map's categories are
        these ROIs, as in :func:`~brainenc.maps.roi_map`).
    title : str, optional
        Figure title.
    cmap : str or Colormap, optional
        Matplotlib colormap of the values (default ``"inferno"``).
    vmin, vmax : float, optional
        Colour range, shared by all views; default: the range of the finite values.
    threshold : float, optional
        Values whose magnitude is below it show the background (as in nilearn).
    colorbar_label : str, optional
        Label under the colour bar (title of the legend of a categorical map): say the units.
    categories : sequence of str, optional
        Names of the categories of a categorical map, whose values are category indices; each
        category gets one colour of ``cmap`` and the colour bar becomes a legend.
    surf : {"inflated", "pial", "white_matter", "sphere"}
        Which surface the lateral, medial and ventral views show (the flat view shows the flat
        map).
    out : path, optional
        Also save the figure there, atomically (temporary file, then rename); the format comes
        from the suffix, PNG when there is none.
    dpi : int
        Resolution of the saved file, in dots per inch.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not registered with pyplot: no backend or other global matplotlib state is
        touched, and nothing needs closing. Each view's axes is labelled ``"<hemi> <view>"``
        (``ax.get_label()``) and shows the mesh centred on its mean vertex.

    Raises
    ------
    ValueError
        ``values`` or an ROI mask does not have one entry per target, the space is a volume
        space, a view or surface is unknown, or the colour range is empty.
    FileNotFoundError
        The space's mesh is neither bundled with nilearn nor in its cache.
    """
    cortical_map = as_map(
        values, title=title, cmap=cmap, vmin=vmin, vmax=vmax,
        colorbar_label=colorbar_label, categories=categories,
    )  # fmt: skip
    space, rois = _space_and_rois(space, rois)
    views = _check_views(views, surf)
    surface_values = _hemisphere_values(cortical_map.values, space)
    vmin, vmax = cortical_map.colour_range()
    cmap = cortical_map.colormap()
    roi_masks = _roi_masks(rois, space)
    meshes = {view: mesh(space.name, "flat" if view == "flat" else surf) for view in views}
    outlines = {view: _outlines(roi_masks, meshes[view]) for view in views}
    outlined = [name for name in roi_masks if any(name in o for o in outlines.values())]
    named = [] if cortical_map.categories == tuple(roi_masks) else outlined  # roi_map names them
    sulcal_depth = _sulcal_depth(space.name)
    layout = _Layout(views, meshes, cortical_map, len(named))
    fig = Figure(figsize=layout.size)
    placer = LabelPlacer(fig)  # ROI labels of all views, kept apart
    for column, hemi in enumerate(HEMISPHERES):
        background = _background(sulcal_depth[hemi])
        for row, view in enumerate(views):
            part = meshes[view].parts[hemi]
            hemi_mesh = InMemoryMesh(_centred(part.coordinates), part.faces)
            ax = fig.add_axes(layout.panel(row, column), projection="3d", label=f"{hemi} {view}")
            plot_surf(
                hemi_mesh,
                surface_values[hemi],
                bg_map=background,
                hemi=hemi,
                view=VIEWS[hemi][view],
                cmap=cmap,
                colorbar=False,
                avg_method="mean" if cortical_map.categories is None else "median",
                threshold=threshold,
                vmin=vmin,
                vmax=vmax,
                axes=ax,
                figure=fig,
            )
            layout.frame(ax, row, hemi_mesh)
            _outline_rois(
                ax,
                hemi_mesh,
                {name: masks[hemi] for name, masks in outlines[view].items() if hemi in masks},
                VIEWS[hemi][view],
                flat=view == "flat",
                placer=placer,
            )
            fig.text(*layout.label(row, column), f"{hemi} {view}", va="top", color="0.35")

    add_colour_key(fig, cortical_map, threshold)
    if named:
        fig.legend(
            handles=[_outline_handle(name) for name in named],
            title="ROI outlines",
            title_fontsize="small",
            loc="lower center",
            bbox_to_anchor=layout.legend,
            ncols=min(len(named), LEGEND_COLUMNS),
            frameon=False,
            fontsize="small",
        )
    if cortical_map.title is not None:
        fig.suptitle(cortical_map.title, y=1 - 0.08 / layout.size[1], va="top")
    if out is not None:
        save_atomically(fig, out, dpi)
    return fig


class _Layout:
    """Where the views go, in inches, so that each mesh fills its panel at true scale.

    matplotlib's 3-D axes are always square; each view gets a square axes, centred on its
    panel and overlapping its neighbours (their backgrounds are transparent), and a camera
    whose box is a cube of the longest extent of that row's meshes, ``_FILL`` of the axes width.
    """

    width = 9.0  # inches; two columns of square axes
    pad = 0.3  # inches above each view, for its label
    legend_row = 0.22  # inches per row of the ROI legend, between the views and the colour key

    def __init__(self, views: Sequence[str], meshes: dict, cortical_map: CorticalMap, n_rois: int):
        self.side = self.width / 2
        extents = []  # (3,) per row: x, y, z extent of the drawn vertices of both hemispheres
        for view in views:
            parts = [meshes[view].parts[hemi] for hemi in HEMISPHERES]
            extents.append(np.max([np.ptp(_drawn(p), axis=0) for p in parts], axis=0))
        self.cubes = [float(e.max()) for e in extents]
        self.rows = [
            _FILL * self.side * e[_VERTICAL[view]] / e.max() + self.pad
            for e, view in zip(extents, views, strict=True)
        ]
        self.top = 0.5 if cortical_map.title is not None else 0.1
        self.key = key_height(cortical_map)
        legend_rows = -(-n_rois // LEGEND_COLUMNS) + 1 if n_rois else 0  # + its title
        self.bottom = self.key + self.legend_row * legend_rows
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
    def legend(self) -> tuple[float, float]:
        return 0.5, (self.key - 0.1) / self.size[1]

    def frame(self, ax, row: int, hemi_mesh: InMemoryMesh) -> None:
        """Point an axes' orthographic camera at a cube of its row's extent around the mesh."""
        drawn = _drawn(hemi_mesh)
        middle = (drawn.min(axis=0) + drawn.max(axis=0)) / 2
        half = self.cubes[row] / 2
        ax.set_xlim(middle[0] - half, middle[0] + half)
        ax.set_ylim(middle[1] - half, middle[1] + half)
        ax.set_zlim(middle[2] - half, middle[2] + half)
        ax.set_proj_type("ortho")
        ax.patch.set_visible(False)  # the square axes overlap: no background may hide a neighbour
        ax.set_box_aspect((1, 1, 1), zoom=_FILL / _CUBE_SPAN)


def _drawn(part) -> np.ndarray:
    """Coordinates of the vertices the faces use (a flat map leaves the medial wall out)."""
    return part.coordinates[np.unique(part.faces)]


def _centred(coordinates: np.ndarray) -> np.ndarray:
    """A copy centred on the mean vertex, as nilearn centres (so that its centring is a no-op)."""
    return coordinates - coordinates.mean(axis=0)


def _check_views(views: Sequence[str], surf: str) -> tuple[str, ...]:
    views = (views,) if isinstance(views, str) else tuple(views)
    unknown = [v for v in views if v not in (*DEFAULT_VIEWS, "flat")]
    if unknown or not views:
        raise ValueError(
            f"views={views!r}: give one or more of 'lateral', 'medial', 'ventral', 'flat'"
        )
    if surf not in _SURFACES_3D:
        raise ValueError(
            f"surf={surf!r} cannot be shown in lateral, medial and ventral views; use one of "
            f"{', '.join(map(repr, _SURFACES_3D))} (for the flat map, add 'flat' to views)"
        )
    return views


def _space_and_rois(space, rois) -> tuple[Space, dict[str, np.ndarray]]:
    if isinstance(space, BrainData):
        rois = space.rois if rois is None else rois
        space = space.space
    elif not isinstance(space, Space):
        raise TypeError(f"space must be a Space or a BrainData; got {type(space).__name__}")
    if not space.is_surface:
        raise ValueError(
            f"space {space.name!r} is a volume space; only surface spaces (fsaverage, "
            "fsaverage5, ...) can be drawn on the cortical surface. Draw it with plot_volume, "
            "or project the volume onto fsaverage with nilearn.surface.vol_to_surf first"
        )
    return space, dict(rois or {})


def _hemisphere_values(values: np.ndarray, space: Space) -> dict[str, np.ndarray]:
    if values.shape[0] != space.n_targets:
        raise ValueError(
            f"values has shape {values.shape} ({values.size} values) but space {space.name!r} "
            f"has {space.n_targets} targets; give one value per target, left hemisphere first"
        )
    return space.hemisphere_values(values)


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


def _outline_rois(
    ax, hemi_mesh: InMemoryMesh, masks: dict, camera, *, flat: bool, placer: LabelPlacer
) -> None:
    """Outline each ROI of one view, then name those whose centre faces the camera.

    A region's centre is its vertex nearest to its mean; its label goes where the region, as the
    camera sees it, is widest, away from the labels already placed (:class:`LabelPlacer`).
    Smaller regions are labelled first: they have the fewest free places.
    """
    facing_vertices = _facing(_vertex_normals(hemi_mesh), camera, 0.2)
    facing_faces = None if flat else _facing(_face_normals(hemi_mesh), camera, 0.0)
    drawn = np.zeros(len(facing_vertices), bool)
    drawn[hemi_mesh.faces] = True
    seen = drawn if flat else drawn & facing_vertices
    lines = outline_lines(hemi_mesh.coordinates, hemi_mesh.faces, masks)
    draw_outlines(ax, [line for name in masks for line in lines[name]], facing_faces)
    for name, mask in sorted(masks.items(), key=lambda item: (item[1] & seen).sum()):
        vertices = np.flatnonzero(mask & drawn)
        if not (mask & seen).any():
            continue
        xyz = hemi_mesh.coordinates[vertices]
        centre = vertices[np.argmin(((xyz - xyz.mean(axis=0)) ** 2).sum(axis=1))]
        if flat or facing_vertices[centre]:
            edge = np.concatenate([points for points, _ in lines[name]])
            placer.label(ax, name, hemi_mesh.coordinates[mask & seen], edge)


def _outline_handle(name: str) -> Line2D:
    """A legend entry drawn as the ROI outlines are."""
    return Line2D(
        [], [], color=OUTLINE_COLOR, lw=1.5, label=name,
        path_effects=[withStroke(linewidth=3.5, foreground=OUTLINE_HALO)],
    )  # fmt: skip


def _facing(normals: np.ndarray, camera, minimum: float) -> np.ndarray:
    """Which normals (n, 3) point towards a camera at (elevation, azimuth) degrees."""
    elev, azim = np.deg2rad(camera)
    towards_camera = np.array(
        [np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)]
    )
    return normals @ towards_camera > minimum


def _face_normals(hemi_mesh: InMemoryMesh) -> np.ndarray:
    """Normal of each face (n_faces, 3), its length twice the face's area."""
    coords, faces = hemi_mesh.coordinates, hemi_mesh.faces
    return np.cross(
        coords[faces[:, 1]] - coords[faces[:, 0]], coords[faces[:, 2]] - coords[faces[:, 0]]
    )


def _vertex_normals(hemi_mesh: InMemoryMesh) -> np.ndarray:
    """Unit normal of each vertex (n_vertices, 3): the area-weighted sum of its faces' normals."""
    face_normals = _face_normals(hemi_mesh)
    normals = np.zeros_like(hemi_mesh.coordinates)
    for corner in range(3):
        np.add.at(normals, hemi_mesh.faces[:, corner], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def _background(sulcal_depth: np.ndarray) -> np.ndarray:
    """Sulcal depth rescaled to grey levels in ``_BACKGROUND`` (shape (n_vertices,))."""
    low, high = np.nanmin(sulcal_depth), np.nanmax(sulcal_depth)
    return _BACKGROUND[0] + np.diff(_BACKGROUND)[0] * (sulcal_depth - low) / (high - low)
