"""plot_surface: a 4-view PNG of values on fsaverage5, ROI outlines, clear errors, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from nilearn import datasets
from PIL import Image

from brainenc.data import ArrayImages, BrainData, Space
from brainenc.maps import mesh, plot_surface
from brainenc.maps.fsaverage import _load_mesh
from brainenc.maps.surface import ROI_COLORS


def _ventral_patch(coords: np.ndarray) -> np.ndarray:
    """A fusiform-like patch on both hemispheres, visible in the ventral views."""
    x, y, z = coords.T
    return (np.abs(y + 55) < 12) & (z < -5) & (np.abs(x) > 28) & (np.abs(x) < 48)


def _pixels_of(image: np.ndarray, color: str, tol: int = 30) -> int:
    target = np.array(to_rgb(color)) * 255
    return int((np.abs(image.astype(int) - target).max(axis=-1) <= tol).sum())


def _legend_names(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_png_is_written_atomically_at_the_figure_size(tmp_path, fs5, coords):
    out = tmp_path / "maps" / "x.png"
    fig = plot_surface(coords[:, 0], fs5, out=out, dpi=30)
    assert isinstance(fig, Figure)
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == tuple(np.round(fig.get_size_inches() * 30).astype(int))
    assert [p.name for p in out.parent.iterdir()] == ["x.png"]  # no temporary file left


def test_the_image_depends_on_the_values(fs5, coords, render):
    gradient = render(plot_surface(coords[:, 0], fs5))
    constant = render(plot_surface(np.full(fs5.n_targets, 3.0), fs5))
    missing = render(plot_surface(np.full(fs5.n_targets, np.nan), fs5))
    for a, b in [(gradient, constant), (gradient, missing), (constant, missing)]:
        assert a.shape == b.shape
        assert (np.abs(a.astype(int) - b).max(axis=-1) > 30).mean() > 0.1


def test_the_meshes_fill_the_figure_width_without_being_clipped(fs5, render):
    image = render(plot_surface(np.full(fs5.n_targets, 3.0), fs5))
    coloured = np.ptp(image.astype(int), axis=-1) > 30  # not white, grey or black text
    columns = np.flatnonzero(coloured.any(axis=0))
    width = image.shape[1]
    assert 0 < columns[0] < 0.05 * width
    assert 0.95 * width < columns[-1] < width - 1


def test_roi_outlines_are_drawn_in_their_colour_and_named(fs5, coords, render):
    rois = {"FFA-like": _ventral_patch(coords)}
    with_roi = plot_surface(coords[:, 1], fs5, rois=rois)
    assert _legend_names(with_roi) == ["FFA-like"]
    assert _pixels_of(render(with_roi), ROI_COLORS[0]) > 50
    assert _pixels_of(render(plot_surface(coords[:, 1], fs5)), ROI_COLORS[0]) == 0


def test_rois_default_to_the_datasets_and_unoutlinable_ones_are_skipped(fs5, coords):
    left_only = _ventral_patch(coords)
    left_only[fs5.n_targets // 2 :] = False
    single = np.zeros(fs5.n_targets, dtype=bool)
    single[100] = True  # one vertex: no face edge to outline anywhere
    data = BrainData(
        responses=np.zeros((2, fs5.n_targets), np.float32),
        images=ArrayImages(np.zeros((2, 2, 2, 3), np.uint8)),
        train=[0],
        test=[1],
        space=fs5,
        rois={"left patch": left_only, "one vertex": single},
    )
    assert _legend_names(plot_surface(coords[:, 2], data)) == ["left patch"]
    assert _legend_names(plot_surface(coords[:, 2], data, rois={})) == []


def test_vertex_subsets_and_nan_values_are_drawn(coords, render):
    vertices = np.flatnonzero(coords[:, 1] < -40)
    space = Space.surface("fsaverage5", vertices=vertices)
    values = coords[vertices, 2].copy()
    values[::5] = np.nan
    fig = plot_surface(values, space, rois={"all": np.ones(len(vertices), bool)}, threshold=5)
    assert _legend_names(fig) == ["all"]
    full = plot_surface(coords[:, 2], Space.surface("fsaverage5"), rois={"x": coords[:, 1] < -40})
    assert (np.abs(render(fig).astype(int) - render(full)).max(axis=-1) > 30).mean() > 0.05


def test_wrong_length_values_name_both_sizes(fs5):
    with pytest.raises(ValueError, match=r"20483 values.*20484 targets"):
        plot_surface(np.zeros(20483), fs5)


def test_a_volume_space_cannot_be_drawn_on_the_surface():
    volume = Space(name="func1pt8mm", n_targets=8, mask=np.ones((2, 2, 2), bool), affine=np.eye(4))
    with pytest.raises(ValueError, match="volume space; only surface spaces"):
        plot_surface(np.zeros(8), volume)


def test_roi_of_the_wrong_shape_is_named(fs5):
    with pytest.raises(ValueError, match=r"ROI 'V1'.*\(20484,\).*\(10242,\)"):
        plot_surface(np.zeros(fs5.n_targets), fs5, rois={"V1": np.ones(10242, bool)})


def test_an_empty_colour_range_is_refused(fs5):
    with pytest.raises(ValueError, match=r"vmin=2\.0 is not below vmax=1\.0"):
        plot_surface(np.zeros(fs5.n_targets), fs5, vmin=2.0, vmax=1.0)


def test_failures_leave_no_file_behind(tmp_path, fs5, monkeypatch):
    out = tmp_path / "map.png"
    with pytest.raises(ValueError):
        plot_surface(np.zeros(3), fs5, out=out)
    assert not any(tmp_path.iterdir())

    out.write_bytes(b"previous map")

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_surface(np.zeros(fs5.n_targets), fs5, out=out)
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]
    assert out.read_bytes() == b"previous map"


def test_mesh_is_cached_read_only_and_left_untouched_by_plotting(fs5):
    inflated = mesh("fsaverage5")
    assert mesh("fsaverage5", "inflated") is inflated
    left = inflated.parts["left"].coordinates
    before = left.copy()
    assert not left.flags.writeable
    plot_surface(np.zeros(fs5.n_targets), fs5)
    np.testing.assert_array_equal(left, before)


@pytest.fixture
def nilearn_cache(tmp_path, monkeypatch):
    """An empty nilearn data cache in tmp_path; the mesh cache is cleared around the test."""
    for var in ("NILEARN_DATA", "NILEARN_SHARED_DATA"):
        monkeypatch.setenv(var, str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    _load_mesh.cache_clear()
    yield tmp_path
    _load_mesh.cache_clear()


def test_uncached_full_fsaverage_says_how_to_fetch_it(nilearn_cache):
    space = Space.surface("fsaverage")
    with pytest.raises(FileNotFoundError, match=r"fetch_surf_fsaverage\('fsaverage'\)"):
        plot_surface(np.zeros(space.n_targets), space)
    assert not any(nilearn_cache.iterdir())  # nothing was created, let alone downloaded


def test_a_cached_mesh_is_found_and_checked(nilearn_cache):
    bundled = Path(datasets.fetch_surf_fsaverage("fsaverage5")["infl_left"]).parent
    fake = nilearn_cache / "fsaverage6"
    fake.mkdir()
    for path in bundled.glob("*_*.gii.gz"):  # fsaverage5 files where fsaverage6 should be
        shutil.copy(path, fake / path.name)
    with pytest.raises(ValueError, match=r"10242 vertices but a fsaverage6 hemisphere has 40962"):
        mesh("fsaverage6")
