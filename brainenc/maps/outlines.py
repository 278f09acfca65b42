"""ROI outlines and labels on one view of a mesh: smooth lines in one colour, labels apart.

An outline is the 0.5 level line of the region's indicator, lightly smoothed over the mesh and
along the line, so that it follows the region rather than the triangles of its edge. It is drawn
in :data:`OUTLINE_COLOR` over a :data:`OUTLINE_HALO` halo, a pair no map colormap can hide: on
dark colours the halo shows, on light ones the line. A label goes where the region is widest
(its pole of inaccessibility, as seen by the camera); when another label is already there, it
moves to the next widest spot, then beside the region with a leader line, and is left out when
no place is free (the region is still named in the figure's legend).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke
from matplotlib.textpath import TextPath
from mpl_toolkits.mplot3d import proj3d
from mpl_toolkits.mplot3d.art3d import Line3DCollection
from scipy import sparse
from scipy.spatial import cKDTree

#: Colour of ROI outlines and labels, and of the halo around them.
OUTLINE_COLOR = "black"
OUTLINE_HALO = "white"
LABEL_SIZE = 7  # points
_LINE_WIDTH = 1.1  # points
_HALO_WIDTH = 3.0  # points
_ZORDER = 5  # above the surface (zorder 1)
_SMOOTHING = 1  # passes of neighbour averaging of the region indicator
_LINE_SMOOTHING = 2  # passes of (1/4, 1/2, 1/4) averaging along the outline
_PAD = 1.5  # points around a label's text that no other label may enter
_ANCHORS = 8  # spots inside a region tried before a leader line
_LEADER_RADII = (0.25, 0.4, 0.6)  # inches from the region's pole to a label beside it


def outline_lines(coordinates: np.ndarray, faces: np.ndarray, masks: dict) -> dict:
    """The outline of each region of a mesh as polylines, with the face under each segment.

    Parameters
    ----------
    coordinates : array of shape (n_vertices, 3)
    faces : int array of shape (n_faces, 3)
    masks : dict of str to bool array of shape (n_vertices,)
        The regions.

    Returns
    -------
    dict of str to list of (points, segment_faces)
        Per region, its lines: ``points`` (n, 3) along a line (a closed line repeats its first
        point at the end) and ``segment_faces`` (n - 1,), the face each segment crosses.
    """
    neighbours = _neighbours(faces, len(coordinates))
    outlines = {}
    for name, mask in masks.items():
        level = mask.astype(float)
        for _ in range(_SMOOTHING):
            level = 0.5 * level + 0.5 * (neighbours @ level)
        lines = _level_lines(coordinates, faces, level)
        if not lines:  # a region too thin to survive smoothing: outline its vertices as they are
            lines = _level_lines(coordinates, faces, mask.astype(float))
        outlines[name] = [(_smoothed_line(points), line_faces) for points, line_faces in lines]
    return outlines


def draw_outlines(ax, lines: list, facing_faces: np.ndarray | None) -> None:
    """Draw outlines (from :func:`outline_lines`) on a 3-D axes, skipping hidden segments.

    Parameters
    ----------
    ax : Axes3D
    lines : list of (points, segment_faces)
    facing_faces : bool array of shape (n_faces,), optional
        Faces seen by the camera; segments over the others are behind the surface and are not
        drawn. ``None``: all are seen (a flat map).
    """
    runs = []
    for points, line_faces in lines:
        seen = np.ones(len(line_faces), bool) if facing_faces is None else facing_faces[line_faces]
        for start, stop in _true_runs(seen):
            runs.append(points[start : stop + 1])
    if not runs:
        return
    ax.computed_zorder = False  # the surface at zorder 1, outlines and labels above it
    for color, width, z in ((OUTLINE_HALO, _HALO_WIDTH, 0), (OUTLINE_COLOR, _LINE_WIDTH, 0.1)):
        lines_3d = Line3DCollection(runs, colors=color, linewidths=width, zorder=_ZORDER + z)
        lines_3d.set_capstyle("round")
        lines_3d.set_joinstyle("round")
        ax.add_collection3d(lines_3d)


class LabelPlacer:
    """Places ROI labels over the views of one figure so that no two overlap.

    Parameters
    ----------
    fig : Figure
        The figure whose views are labelled; positions are kept in its inches.
    """

    def __init__(self, fig):
        self.fig = fig
        self.placed: list[np.ndarray] = []  # (x0, y0, x1, y1) in inches, padded

    def label(self, ax, name: str, points: np.ndarray, edge: np.ndarray) -> bool:
        """Label a region of a view; returns whether a free place was found.

        Parameters
        ----------
        ax : Axes3D
            The view, its camera set.
        name : str
        points : array of shape (n, 3)
            The region's vertices that the camera sees, in the view's coordinates.
        edge : array of shape (m, 3)
            Points of the region's outline: the label goes far from them.
        """
        size = _text_size(name)
        anchors = _anchors(self._inches(ax, points), self._inches(ax, edge))
        for anchor in anchors:
            if self._free(anchor, size):
                self._put(ax, name, anchor, size)
                return True
        pole = anchors[0]
        for radius in _LEADER_RADII:
            for angle in np.deg2rad([90, 270, 0, 180, 45, 135, 225, 315]):
                centre = pole + radius * np.array([np.cos(angle), np.sin(angle)])
                if self._free(centre, size):
                    self._leader(ax, pole, centre, size)
                    self._put(ax, name, centre, size)
                    return True
        return False

    def _inches(self, ax, points: np.ndarray) -> np.ndarray:
        """Figure-inch positions (n, 2) of 3-D points in a view."""
        if not len(points):
            return np.zeros((0, 2))
        ax.apply_aspect()  # as drawing will: the projection then matches the drawn one
        x, y, _ = proj3d.proj_transform(*np.asarray(points, float).T, ax.get_proj())
        return ax.transData.transform(np.column_stack([x, y])) / self.fig.dpi

    def _free(self, centre: np.ndarray, size: np.ndarray) -> bool:
        box = np.concatenate([centre - size / 2, centre + size / 2])
        return not any(_overlap(box, other) for other in self.placed)

    def _put(self, ax, name: str, centre: np.ndarray, size: np.ndarray) -> None:
        self.placed.append(np.concatenate([centre - size / 2, centre + size / 2]))
        x, y = centre / self.fig.get_size_inches()
        ax.text2D(
            x, y, name, transform=self.fig.transFigure, fontsize=LABEL_SIZE, color=OUTLINE_COLOR,
            ha="center", va="center_baseline", zorder=_ZORDER + 1,
            path_effects=[withStroke(linewidth=2, foreground=OUTLINE_HALO)],
        )  # fmt: skip

    def _leader(self, ax, start: np.ndarray, centre: np.ndarray, size: np.ndarray) -> None:
        """A line from a region's pole to the edge of its label's box."""
        direction = start - centre
        scale = np.min(np.abs((size / 2) / np.where(direction == 0, np.nan, direction)))
        end = centre + direction * min(np.nan_to_num(scale, nan=0.0), 1.0)
        inches = self.fig.get_size_inches()
        line = Line2D(
            [start[0] / inches[0], end[0] / inches[0]],
            [start[1] / inches[1], end[1] / inches[1]],
            transform=self.fig.transFigure, color=OUTLINE_COLOR, lw=0.6, zorder=_ZORDER + 1,
            path_effects=[withStroke(linewidth=1.8, foreground=OUTLINE_HALO)],
        )  # fmt: skip
        ax.add_artist(line)
        line.set_clip_on(False)


def _neighbours(faces: np.ndarray, n_vertices: int) -> sparse.csr_matrix:
    """The mean over a vertex's mesh neighbours, as a sparse (n_vertices, n_vertices) matrix."""
    i = faces[:, [0, 1, 2, 1, 2, 0]].ravel()
    j = faces[:, [1, 2, 0, 0, 1, 2]].ravel()
    adjacency = sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n_vertices, n_vertices))
    adjacency.data[:] = 1.0  # an edge shared by two faces counts once
    degree = np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1)
    return sparse.diags(1 / degree) @ adjacency


def _level_lines(coordinates: np.ndarray, faces: np.ndarray, values: np.ndarray) -> list:
    """The 0.5 level lines of per-vertex values on a triangle mesh (marching triangles)."""
    inside = values[faces] >= 0.5
    crossed = np.flatnonzero(inside.any(axis=1) & ~inside.all(axis=1))
    if not crossed.size:
        return []
    corners = faces[crossed]  # (n, 3)
    starts, stops = corners, np.roll(corners, -1, axis=1)  # edges (0, 1), (1, 2), (2, 0)
    cut = inside[crossed] != np.roll(inside[crossed], -1, axis=1)  # exactly two per face
    low, high = np.minimum(starts, stops)[cut], np.maximum(starts, stops)[cut]
    edges, segments = np.unique(np.column_stack([low, high]), axis=0, return_inverse=True)
    t = (0.5 - values[edges[:, 0]]) / (values[edges[:, 1]] - values[edges[:, 0]])
    where = coordinates[edges[:, 0]] + t[:, None] * (
        coordinates[edges[:, 1]] - coordinates[edges[:, 0]]
    )
    segments = segments.reshape(-1, 2)  # the two crossed edges of each crossed face
    return [(where[chain], crossed[ids]) for chain, ids in _chains(segments)]


def _chains(segments: np.ndarray) -> list:
    """Segments (pairs of point indices (n, 2)) joined into chains of point and segment indices."""
    pairs = segments.tolist()
    touching = defaultdict(list)
    for s, (a, b) in enumerate(pairs):
        touching[a].append(s)
        touching[b].append(s)
    used = [False] * len(pairs)
    ends = [k for k, ss in touching.items() if len(ss) == 1]  # open lines start at an end
    chains = []
    for start in ends + list(touching):
        if all(used[s] for s in touching[start]):
            continue
        chain, chain_segments, key = [start], [], start
        while free := [s for s in touching[key] if not used[s]]:
            s = free[0]
            used[s] = True
            a, b = pairs[s]
            key = b if a == key else a
            chain.append(key)
            chain_segments.append(s)
        chains.append((np.array(chain), np.array(chain_segments)))
    return chains


def _smoothed_line(points: np.ndarray) -> np.ndarray:
    """A polyline averaged (1/4, 1/2, 1/4) along itself; a closed one stays closed, an open one
    keeps its ends."""
    closed = len(points) > 2 and np.allclose(points[0], points[-1])
    points = points.copy()
    for _ in range(_LINE_SMOOTHING):
        if closed:
            ring = points[:-1]
            ring = 0.25 * np.roll(ring, 1, axis=0) + 0.5 * ring + 0.25 * np.roll(ring, -1, axis=0)
            points = np.vstack([ring, ring[:1]])
        elif len(points) > 2:
            points[1:-1] = 0.25 * points[:-2] + 0.5 * points[1:-1] + 0.25 * points[2:]
    return points


def _true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a bool array, stop exclusive."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2], changes[1::2], strict=True))


@cache
def _text_size(name: str) -> np.ndarray:
    """(width, height) in inches that a label takes, with its padding."""
    extents = TextPath((0, 0), name, size=LABEL_SIZE).get_extents()
    return (np.array([extents.width, LABEL_SIZE]) + 2 * _PAD) / 72


def _anchors(xy: np.ndarray, edge: np.ndarray) -> list[np.ndarray]:
    """Up to :data:`_ANCHORS` spread-out spots of a region, farthest from its edge first."""
    if len(edge):
        depth = cKDTree(edge).query(xy)[0]
    else:
        depth = -np.linalg.norm(xy - xy.mean(axis=0), axis=1)
    anchors = []
    for i in np.argsort(-depth, kind="stable")[:2000]:  # the deepest; enough to spread over
        if all(np.linalg.norm(xy[i] - a) > 0.15 for a in anchors):
            anchors.append(xy[i])
            if len(anchors) == _ANCHORS:
                break
    return anchors


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
