import numpy as np
import pytest

from brainenc.data._fixtures import image_id_of, write_algonauts_fixture
from brainenc.data.algonauts import load_algonauts

N_HEMI = 163842


@pytest.fixture
def alg(tmp_path):
    root = tmp_path / "algonauts2023"
    info = write_algonauts_fixture(root, subject=1)
    return root, info


def test_responses_vertices_images_and_split(alg):
    root, info = alg
    bd = load_algonauts(1, data_dir=root.parent)
    np.testing.assert_array_equal(
        bd.responses, np.concatenate([info["lh_fmri"], info["rh_fmri"]], 1)
    )
    np.testing.assert_array_equal(
        bd.space.vertices, np.concatenate([info["lh"], info["rh"] + N_HEMI])
    )
    assert bd.space.name == "fsaverage"
    # train-NNNN_nsd-XXXXX.png: row NNNN (1-based), 0-based 73k id XXXXX
    np.testing.assert_array_equal(image_id_of(bd.images[np.arange(bd.n_images)]), info["nsd_ids"])
    assert bd.meta["nsd_ids"] == info["nsd_ids"].tolist()
    assert len(bd.test) == 4 and len(bd.train) == 36
    again = load_algonauts(1, data_dir=root.parent)
    np.testing.assert_array_equal(bd.test, again.test)  # seeded


def test_rois_from_challenge_space_masks(alg):
    root, _ = alg
    bd = load_algonauts(1, data_dir=root.parent)
    lab = np.concatenate(
        [
            np.load(root / f"subj01/roi_masks/{h}.floc-faces_challenge_space.npy")
            for h in ("lh", "rh")
        ]
    )
    np.testing.assert_array_equal(bd.roi("FFA-1"), lab == 2)
    np.testing.assert_array_equal(bd.roi("FFA"), (lab == 2) | (lab == 3))
    assert {"V1v", "hV4", "EBA", "PPA", "VWFA-1", "early", "floc-places"} <= set(bd.rois)


def test_test_ids_and_released_test_fmri(alg):
    root, info = alg
    bd = load_algonauts(1, test_ids=info["nsd_ids"][[3, 7]], data_dir=root.parent)
    np.testing.assert_array_equal(bd.test, [3, 7])
    test_dir = root / "subj01/test_split/test_fmri"
    test_dir.mkdir(parents=True)
    for h, n in (("lh", 120), ("rh", 130)):
        np.save(test_dir / f"{h}_test_fmri.npy", np.ones((6, n), np.float32))
    bd = load_algonauts(1, data_dir=root.parent)
    assert bd.n_images == 46
    np.testing.assert_array_equal(bd.test, np.arange(40, 46))
    assert (bd.responses[40:] == 1).all()


def test_mismatched_files_are_named(alg):
    root, _ = alg
    np.save(
        root / "subj01/training_split/training_fmri/rh_training_fmri.npy",
        np.zeros((40, 7), np.float32),
    )
    with pytest.raises(ValueError, match=r"rh_training_fmri\.npy has shape \(40, 7\)"):
        load_algonauts(1, data_dir=root.parent)
    with pytest.raises(FileNotFoundError, match="found: subj01"):
        load_algonauts(2, data_dir=root.parent)


def test_missing_image_is_named(alg):
    root, _ = alg
    victim = sorted((root / "subj01/training_split/training_images").glob("train-0005_*"))[0]
    victim.unlink()
    with pytest.raises(ValueError, match="train-0005_nsd"):
        load_algonauts(1, data_dir=root.parent)
