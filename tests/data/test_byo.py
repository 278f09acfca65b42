import numpy as np
import pytest

from brainenc.data._fixtures import image_id_of, write_byo_fixture
from brainenc.data.byo import load_byo


@pytest.mark.parametrize("fmt", ["npy", "hdf5", "nifti", "gifti", "mgh"])
def test_each_format_reads_back(tmp_path, fmt):
    info = write_byo_fixture(tmp_path, fmt, n_images=12)
    bd = load_byo(info["toml"], subject="S01")
    np.testing.assert_allclose(bd.rows(np.arange(12)), info["responses"], atol=1e-6)
    np.testing.assert_array_equal(bd.test, info["test"])
    np.testing.assert_array_equal(bd.roi("early"), info["roi"])
    np.testing.assert_allclose(bd.noise_ceiling, info["noise_ceiling"])
    np.testing.assert_array_equal(image_id_of(bd.images[np.arange(12)]), np.arange(12))
    if fmt in ("gifti", "mgh"):
        assert bd.space.name == "fsaverage4" and bd.n_targets == 2 * 2562
    if fmt == "nifti":
        assert bd.space.mask.sum() == bd.n_targets


def test_other_subject_and_bad_counts_are_refused(tmp_path):
    info = write_byo_fixture(tmp_path, "npy", n_images=12)
    with pytest.raises(ValueError, match="describes subject 'S01', not 'S02'"):
        load_byo(info["toml"], subject="S02")
    (tmp_path / "images" / "img_011.png").unlink()
    with pytest.raises(ValueError, match="11 images but the responses have 12 rows"):
        load_byo(info["toml"])


def test_wrong_surface_is_named(tmp_path):
    info = write_byo_fixture(tmp_path, "mgh", n_images=4)
    toml = info["toml"]
    toml.write_text(toml.read_text().replace('space = "fsaverage4"', 'space = "fsaverage5"'))
    with pytest.raises(
        ValueError, match=r"lh\.responses\.mgh has 2562 vertices but fsaverage5 has 10242"
    ):
        load_byo(toml)
