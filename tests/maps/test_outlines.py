"""ROI outlines and labels: one colour no map uses, smooth lines, labels that never overlap."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb

from brainenc.maps import ROI_COLORS, mesh, plot_surface, preference_map
from brainenc.maps.cortical_map import CATEGORY_CMAP
from brainenc.maps.kinds import ALPHA_CMAP
from brainenc.maps.outlines import OUTLINE_COLOR, OUTLINE_HALO, _level_lines, outline_lines

#: The colormaps of the standard maps: accuracy, noise ceiling, alphas, comparison.
MAP_CMAPS = ("inferno", "viridis", ALPHA_CMAP, "RdBu_r")


def _flat_left():
    part = mesh("fsaverage5", "flat").parts["left"]
    return part.coordinates, part.faces


def _disc(coordinates, faces, radius=25.0):
    drawn = np.unique(faces)
    centre = np.median(coordinates[drawn], axis=0)
    mask = np.zeros(len(coordinates), bool)
    mask[drawn] = np.linalg.norm(coordinates[drawn] - centre, axis=1) < radius
    return mask, centre


def _turning(points: np.ndarray) -> np.ndarray:
    """Angle in degrees between consecutive segments of a polyline."""
    steps = np.diff(points[:, :2], axis=0)
    steps = steps[np.linalg.norm(steps, axis=1) > 1e-9]
    cosine = (steps[:-1] * steps[1:]).sum(axis=1) / (
        np.linalg.norm(steps[:-1], axis=1) * np.linalg.norm(steps[1:], axis=1)
    )
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


def test_no_data_colour_repeats_the_outline_or_hides_it():
    core, halo = np.array(to_rgb(OUTLINE_COLOR)), np.array(to_rgb(OUTLINE_HALO))
    categorical = [to_rgb(c) for c in ROI_COLORS] + list(colormaps[CATEGORY_CMAP].colors)
    assert min(np.linalg.norm(np.subtract(c, core)) for c in categorical) > 0.3
    for name in MAP_CMAPS:
        colours = colormaps[name](np.linspace(0, 1, 256))[:, :3]
        seen = np.maximum(
            np.linalg.norm(colours - core, axis=1), np.linalg.norm(colours - halo, axis=1)
        )
        assert seen.min() > 0.8, name  # on every colour, the line or its halo stands out


def test_an_outline_is_one_smooth_closed_line_around_its_region():
    coordinates, faces = _flat_left()
    mask, centre = _disc(coordinates, faces)
    (line,) = outline_lines(coordinates, faces, {"disc": mask})["disc"]
    points, line_faces = line
    np.testing.assert_array_equal(points[0], points[-1])  # closed
    assert len(line_faces) == len(points) - 1
    radii = np.linalg.norm(points[:, :2] - centre[:2], axis=1)
    assert np.abs(radii - 25).max() < 3  # it follows the region's edge
    ((raw, _),) = _level_lines(coordinates, faces, mask.astype(float))
    assert _turning(points).mean() < _turning(raw).mean() / 2  # far less jagged
    assert _turning(points).max() < 45 < _turning(raw).max()  # no corners left


def test_labels_never_overlap_and_name_the_rois_on_the_flat_map(world_data):
    labels = world_data.truth["labels"][world_data.test]
    preferred = preference_map(
        world_data.truth["test_signal"], labels, world_data.truth["categories"]
    )
    fig = plot_surface(preferred, world_data, views=("ventral", "flat"))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    boxes, named = [], {}
    for ax in fig.axes:
        for text in ax.texts:
            if text.get_text() in world_data.rois:
                boxes.append(text.get_window_extent(renderer))
                named.setdefault(ax.get_label(), set()).add(text.get_text())
    assert len(boxes) > 20
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    for hemi in ("left", "right"):  # crowded, yet (nearly) every region is named
        assert len(named[f"{hemi} flat"]) >= len(world_data.rois) - 1, named[f"{hemi} flat"]
