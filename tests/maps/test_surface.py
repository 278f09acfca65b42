"""plot_surface: views of values on fsaverage5, ROI outlines, what the pixels show, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from nibabel import freesurfer
from nilearn import datasets
from nilearn.surface import InMemoryMesh
from PIL import Image

from brainenc.data import ArrayImages, BrainData, Space
from brainenc.maps import ROI_COLORS, comparison_map, mesh, plot_surface, preference_map, roi_map
from brainenc.maps.fsaverage import NSD_SURFACES, _load_mesh
from brainenc.maps.outlines import OUTLINE_COLOR
from brainenc.maps.surface import VIEWS


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
        assert np.abs(np.subtract(img.size, fig.get_size_inches() * 30)).max() <= 1
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


def test_roi_outlines_are_drawn_in_the_outline_colour_and_named(fs5, coords, render):
    rois = {"FFA-like": _ventral_patch(coords)}
    missing = np.full(fs5.n_targets, np.nan)  # the grey background only: no data colour
    with_roi = plot_surface(missing, fs5, rois=rois, vmin=0, vmax=1)
    assert _legend_names(with_roi) == ["FFA-like"]
    without = render(plot_surface(missing, fs5, vmin=0, vmax=1), dpi=100)  # the key has black
    outlined = render(with_roi, dpi=100)  # a dpi at which the thin line has black pixels
    assert _pixels_of(outlined, OUTLINE_COLOR) > _pixels_of(without, OUTLINE_COLOR) + 100


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


# --- views, categorical maps, and what the pixels show -------------------------------------------


def _flat(hemi: str) -> InMemoryMesh:
    """The flat mesh of a hemisphere as plot_surface draws it (centred on its mean vertex)."""
    part = mesh("fsaverage5", "flat").parts[hemi]
    return InMemoryMesh(part.coordinates - part.coordinates.mean(axis=0), part.faces)


def _colour_at(image: np.ndarray, rows_cols: np.ndarray) -> np.ndarray:
    """RGB (n, 3) of the image at pixel positions (n, 2)."""
    return image[rows_cols[:, 0], rows_cols[:, 1]].astype(int)


def _is_grey(rgb: np.ndarray) -> np.ndarray:
    return np.ptp(rgb, axis=-1) < 20


def test_views_are_rows_and_each_hemisphere_a_column(fs5, coords):
    fig = plot_surface(coords[:, 0], fs5, views=("lateral", "medial", "ventral", "flat"))
    labels = [ax.get_label() for ax in fig.axes if ax.name == "3d"]
    assert labels == [f"{h} {v}" for h in ("left", "right") for v in VIEWS["left"]]
    flat_only = plot_surface(coords[:, 0], fs5, views=["flat"])
    assert flat_only.get_size_inches()[1] < fig.get_size_inches()[1] / 2
    with pytest.raises(ValueError, match=r"views=\('top',\).*'lateral', 'medial'"):
        plot_surface(coords[:, 0], fs5, views=("top",))
    with pytest.raises(ValueError, match=r"surf='flat'.*add 'flat' to views"):
        plot_surface(coords[:, 0], fs5, surf="flat")


def test_an_roi_map_has_each_roi_colour_inside_the_roi_and_grey_outside(
    world_data, draw, pixels, inner_face_centres
):
    """Pixels sampled at face centres of the flat map: each ROI's colour where it is, only there."""
    rois = world_data.rois
    fig = plot_surface(roi_map(rois), world_data, views=("flat",), rois={})  # fills only
    image = draw(fig)
    in_any = np.any(list(rois.values()), axis=0)
    per_hemi = {
        name: world_data.space.hemisphere_values(m.astype(float)) for name, m in rois.items()
    }
    checked = 0
    for hemi in ("left", "right"):
        flat = _flat(hemi)
        for i, name in enumerate(rois):
            centres = inner_face_centres(flat, per_hemi[name][hemi] == 1)
            if len(centres) < 5:
                continue  # too small to have inner faces at this resolution
            rgb = _colour_at(image, pixels(fig, f"{hemi} flat", centres))
            target = np.array(to_rgb(ROI_COLORS[i])) * 255
            assert (np.abs(rgb - target).max(axis=1) < 40).mean() > 0.8, (hemi, name)
            checked += 1
        outside = world_data.space.hemisphere_values((~in_any).astype(float))[hemi] == 1
        rgb = _colour_at(image, pixels(fig, f"{hemi} flat", inner_face_centres(flat, outside)))
        assert _is_grey(rgb).mean() > 0.99, hemi
    assert checked >= 10
    assert _legend_names(fig) == list(rois)


def test_nan_is_shown_as_background_and_zero_as_the_colour_of_zero(
    fs5, coords, draw, pixels, inner_face_centres
):
    y = coords[:, 1]
    values = np.where(y > -10, 0.0, np.nan)  # zero in front, missing behind
    fig = plot_surface(values, fs5, views=("flat",), vmin=0, vmax=1, cmap="inferno")
    image = draw(fig)
    hemi_y = fs5.hemisphere_values(y)
    for hemi in ("left", "right"):
        flat = _flat(hemi)
        zero = _colour_at(
            image, pixels(fig, f"{hemi} flat", inner_face_centres(flat, hemi_y[hemi] > 0))
        )
        missing = _colour_at(
            image, pixels(fig, f"{hemi} flat", inner_face_centres(flat, hemi_y[hemi] < -30))
        )
        assert len(zero) > 100 and len(missing) > 100
        assert (zero.max(axis=1) < 40).mean() > 0.95  # inferno(0) is black
        assert (_is_grey(missing) & (missing.min(axis=1) > 80)).mean() > 0.95  # sulcal greys


def test_a_comparison_and_its_negation_swap_red_and_blue(
    fs5, coords, draw, pixels, inner_face_centres
):
    y = coords[:, 1]
    a, b = np.where(y > 0, 1.0, -1.0), np.zeros_like(y)  # A better in front, B behind
    a_minus_b = comparison_map(a, b, names=("A", "B"))
    b_minus_a = comparison_map(b, a, names=("B", "A"))
    np.testing.assert_array_equal(b_minus_a.values, -a_minus_b.values)
    front = inner_face_centres(_flat("left"), fs5.hemisphere_values(y)["left"] > 20)
    colours = []
    for cortical_map in (a_minus_b, b_minus_a):
        fig = plot_surface(cortical_map, fs5, views=("flat",))
        colours.append(_colour_at(draw(fig), pixels(fig, "left flat", front)))
    red_then_blue = (colours[0][:, 0] > colours[0][:, 2] + 60) & (
        colours[1][:, 2] > colours[1][:, 0] + 60
    )
    assert len(front) > 100 and red_then_blue.mean() > 0.95


def test_a_categorical_map_gets_a_legend_of_its_categories(world_data):
    labels = world_data.truth["labels"][world_data.test]
    categories = world_data.truth["categories"]
    preferred = preference_map(world_data.truth["test_signal"], labels, categories)
    fig = plot_surface(preferred, world_data, views=("ventral",))
    key, outlines = fig.legends
    assert [t.get_text() for t in key.get_texts()] == list(categories)
    assert key.get_title().get_text() == preferred.colorbar_label
    assert [t.get_text() for t in outlines.get_texts()] == list(world_data.rois)
    assert not any(ax.get_label() == "<colorbar>" for ax in fig.axes)  # a legend, not a bar


def test_rois_are_labelled_where_they_face_the_camera(world_data):
    fig = plot_surface(np.zeros(world_data.n_targets), world_data, views=("lateral", "medial"))
    labels = {ax.get_label(): {t.get_text() for t in ax.texts} for ax in fig.axes}
    assert {"EBA", "OPA"} <= labels["left lateral"] and "RSC" not in labels["left lateral"]
    assert {"RSC", "V1"} <= labels["right medial"] and "EBA" not in labels["right medial"]


@pytest.mark.filterwarnings("ignore:(Unknown extension|No volume information):UserWarning")
def test_full_fsaverage_is_read_from_the_nsd_download(nilearn_cache, monkeypatch):
    """NSD's FreeSurfer files are found and read (here fsaverage5's, so the size check fires)."""
    monkeypatch.setenv("BRAINENC_DATA", str(nilearn_cache / "data"))
    folder = nilearn_cache / "data" / "nsd" / NSD_SURFACES
    folder.mkdir(parents=True)
    small = mesh("fsaverage5", "inflated")
    _load_mesh.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"or download NSD's nsddata/freesurfer/fsaverage"):
        mesh("fsaverage")
    for hemi, prefix in (("left", "lh"), ("right", "rh")):
        part = small.parts[hemi]
        for name in ("inflated", "pial", "white", "sphere"):
            freesurfer.write_geometry(
                str(folder / f"{prefix}.{name}"), part.coordinates, part.faces
            )
        freesurfer.write_morph_data(str(folder / f"{prefix}.sulc"), np.zeros(len(part.coordinates)))
    with pytest.raises(ValueError, match=r"lh\.inflated has 10242 vertices but a fsaverage hemi"):
        mesh("fsaverage")
    with pytest.raises(FileNotFoundError, match=r"have no flat surface; fetch nilearn's"):
        mesh("fsaverage", "flat")
