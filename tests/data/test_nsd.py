import nibabel as nib
import numpy as np
import pytest
from scipy.stats import zscore

from brainenc.data import nsd
from brainenc.data._fixtures import image_id_of, write_nsd_fixture
from brainenc.data.manifest import Manifest
from brainenc.data.nsd import load_nsd, prepare_nsd, sources
from brainenc.data.store import load_store, store_array

MAN = Manifest.load("nsd")
SESSIONS = [1, 2, 3]


def expected_trials(info, sessions=SESSIONS):
    d = info["design"]
    cols = np.concatenate([d["masterordering"][(s - 1) * 750 : s * 750] for s in sessions])
    return d["subjectim"][0, cols]


def independent_fsaverage(root, sessions=SESSIONS):
    """z-scored single trials (n_trials, n_targets) straight from the .mgh files."""
    out = []
    for s in sessions:
        hemis = []
        for h in ("lh", "rh"):
            p = root / MAN.path("betas", "fsaverage", subject=1, session=s, hemi=h)
            hemis.append(nib.load(str(p)).get_fdata()[:, 0, 0, :].T)  # (750, n)
        out.append(zscore(np.concatenate(hemis, axis=1), axis=0))
    return np.concatenate(out)


def average(trials, trial_ids):
    ids = np.unique(trial_ids)
    return ids, np.stack([trials[trial_ids == i].mean(0) for i in ids])


@pytest.fixture(scope="module")
def fsavg(nsd_root):
    root, info = nsd_root
    bd = load_nsd(1, "fsaverage", "1-3", mesh="fsaverage4", progress=False, data_dir=root.parent)
    return root, info, bd


def test_responses_equal_independent_zscore_and_average(fsavg):
    root, info, bd = fsavg
    trial_ids = expected_trials(info)
    trials = independent_fsaverage(root)
    ids, avg = average(trials, trial_ids)
    assert bd.responses.shape == (len(ids), 2 * 2562)
    np.testing.assert_allclose(bd.rows(np.arange(bd.n_images)), avg, atol=2e-5)
    assert bd.meta["subject"] == 1 and bd.meta["sessions"] == SESSIONS
    assert bd.space.name == "fsaverage4" and bd.space.n_targets == 5124


def test_trial_to_image_mapping_and_shared1000_split(fsavg):
    _, info, bd = fsavg
    trial_ids = expected_trials(info)
    ids = np.unique(trial_ids)
    # the pixels of each row's image encode its 73k id
    np.testing.assert_array_equal(image_id_of(bd.images[np.arange(bd.n_images)]), ids)
    shared = info["design"]["sharedix"]
    np.testing.assert_array_equal(bd.test, np.flatnonzero(np.isin(ids, shared)))
    np.testing.assert_array_equal(bd.train, np.flatnonzero(~np.isin(ids, shared)))
    assert len(bd.test) > 100


def test_repeats_hold_single_test_trials(fsavg):
    root, info, bd = fsavg
    trial_ids = expected_trials(info)
    trials = independent_fsaverage(root)
    ids = np.unique(trial_ids)
    counts = np.array([np.sum(trial_ids == ids[r]) for r in bd.test])
    assert bd.repeats.shape == (counts.max(), len(bd.test), 5124)
    for k in [*np.flatnonzero(counts > 1)[:5].tolist(), 0]:
        single = trials[trial_ids == ids[bd.test[k]]]
        np.testing.assert_allclose(bd.repeats[: len(single), k], single, atol=2e-5)
        assert np.isnan(bd.repeats[len(single) :, k]).all()


def test_noise_ceiling_from_ncsnr(fsavg):
    root, info, bd = fsavg
    ncsnr = np.concatenate(
        [
            nib.load(str(root / MAN.path("ncsnr", "fsaverage", subject=1, hemi=h)))
            .get_fdata()
            .ravel()
            for h in ("lh", "rh")
        ]
    )
    trial_ids = expected_trials(info)
    ids = np.unique(trial_ids)
    n = np.array([np.sum(trial_ids == ids[r]) for r in bd.test])
    expected = ncsnr**2 / (ncsnr**2 + np.mean(1.0 / n))
    np.testing.assert_allclose(bd.noise_ceiling, expected, rtol=1e-6)
    assert 0 <= bd.noise_ceiling.min() and bd.noise_ceiling.max() < 1


def test_rois_mapped_from_native_surface_with_ctab_names(fsavg):
    root, _, bd = fsavg
    per_hemi = []
    for h in ("lh", "rh"):
        native = nib.load(
            str(root / MAN.path("labels", "fsaverage", subject=1, hemi=h, label="floc-faces"))
        )
        idx = nib.load(str(root / MAN.path("transform", "fsaverage", subject=1, hemi=h)))
        per_hemi.append(np.asarray(native.dataobj).ravel()[np.asarray(idx.dataobj).ravel() - 1])
    labels = np.concatenate(per_hemi)
    np.testing.assert_array_equal(bd.roi("FFA-1"), labels == 2)
    np.testing.assert_array_equal(bd.roi("FFA"), (labels == 2) | (labels == 3))
    np.testing.assert_array_equal(bd.roi("floc-faces"), labels > 0)
    for name in ("V1v", "hV4", "EBA", "PPA", "VWFA-1", "nsdgeneral", "early", "V1"):
        assert bd.roi(name).dtype == bool
    atlas_files = [
        root / MAN.path("atlas", "fsaverage", hemi=f"{h}h", label="nsdgeneral") for h in "lr"
    ]
    atlas = np.concatenate([np.asarray(nib.load(str(p)).dataobj).ravel() for p in atlas_files])
    np.testing.assert_array_equal(bd.roi("nsdgeneral"), atlas > 0)


def test_nsdgeneral_masking_and_float16(fsavg, tmp_path):
    root, _, full = fsavg
    bd = load_nsd(
        1,
        "fsaverage",
        "1-3",
        mesh="fsaverage4",
        progress=False,
        nsdgeneral=True,
        dtype="float16",
        out=tmp_path / "s.h5",
        data_dir=root.parent,
    )
    keep = full.roi("nsdgeneral")
    assert bd.n_targets == keep.sum()
    np.testing.assert_array_equal(bd.space.vertices, np.flatnonzero(keep))
    assert bd.responses.dtype == np.float16
    np.testing.assert_allclose(bd.rows(np.arange(50)), full.rows(np.arange(50))[:, keep], atol=1e-2)
    np.testing.assert_array_equal(bd.roi("FFA-1"), full.roi("FFA-1")[keep])


def test_func1pt8mm_hdf5_and_nifti_agree_with_independent_computation(nsd_root, tmp_path):
    root, info = nsd_root
    bd = load_nsd(1, "func1pt8mm", "1-3", progress=False, data_dir=root.parent)
    mask = (
        np.asarray(nib.load(str(root / MAN.path("brainmask", "func1pt8mm", subject=1))).dataobj) > 0
    )
    trials = []
    for s in SESSIONS:
        p = root / MAN.path("betas_nifti", "func1pt8mm", subject=1, session=s)
        vol = np.asarray(nib.load(str(p)).dataobj)  # (X, Y, Z, 750) int16
        trials.append(zscore(vol[mask].T / 300.0, axis=0))
    _, avg = average(np.concatenate(trials), expected_trials(info))
    np.testing.assert_allclose(bd.rows(np.arange(bd.n_images)), avg, atol=2e-5)
    np.testing.assert_array_equal(bd.space.mask, mask)
    # the NIfTI copies give the same store as the HDF5 ones
    h5 = [root / MAN.path("betas", "func1pt8mm", subject=1, session=s) for s in SESSIONS]
    for p in h5:
        p.rename(p.with_suffix(".hdf5.off"))
    try:
        bd2 = load_nsd(
            1, "func1pt8mm", "1-3", progress=False, out=tmp_path / "nii.h5", data_dir=root.parent
        )
        np.testing.assert_allclose(bd2.rows(np.arange(40)), bd.rows(np.arange(40)), atol=1e-6)
    finally:
        for p in h5:
            p.with_suffix(".hdf5.off").rename(p)


def test_store_is_reused_and_rebuilt_when_inputs_change(tmp_path):
    write_nsd_fixture(tmp_path / "nsd", 1, 2, spaces=("fsaverage",), stimuli=False)
    p1 = prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=tmp_path)
    t1 = p1.stat().st_mtime_ns
    assert (
        prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=tmp_path) == p1
    )
    assert p1.stat().st_mtime_ns == t1
    beta = tmp_path / "nsd" / MAN.path("betas", "fsaverage", subject=1, session=2, hemi="rh")
    beta.touch()
    prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=tmp_path)
    assert p1.stat().st_mtime_ns != t1


@pytest.fixture
def small(tmp_path):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 2, spaces=("fsaverage",), stimuli=False)
    return root


def nothing_written(root):
    prepared = root / "prepared"
    return not prepared.exists() or list(prepared.iterdir()) == []


def test_missing_session_file_is_named_with_the_fix(small):
    beta = small / MAN.path("betas", "fsaverage", subject=1, session=2, hemi="lh")
    beta.unlink()
    with pytest.raises(FileNotFoundError) as e:
        prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=small.parent)
    assert "lh.betas_session02.mgh" in str(e.value)
    assert "brainenc data download nsd --subject 1" in str(e.value)
    assert nothing_written(small)


def test_truncated_mgh_is_named(small):
    beta = small / MAN.path("betas", "fsaverage", subject=1, session=2, hemi="rh")
    data = beta.read_bytes()
    beta.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"rh\.betas_session02\.mgh is truncated.*download it again"
    ):
        prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=small.parent)
    assert nothing_written(small)


def test_wrong_space_mesh_and_subject(small):
    with pytest.raises(ValueError, match="no space 'fsaverage5'"):
        prepare_nsd(1, space="fsaverage5", progress=False, data_dir=small.parent)
    with pytest.raises(ValueError, match=r"2562 vertices but mesh 'fsaverage'.*mesh='fsaverage4'"):
        prepare_nsd(1, sessions="1-2", progress=False, data_dir=small.parent)
    with pytest.raises(ValueError, match="no subject 9"):
        prepare_nsd(9, progress=False, data_dir=small.parent)
    with pytest.raises(ValueError, match="only sessions 1-30"):
        prepare_nsd(4, sessions="1-40", progress=False, data_dir=small.parent)
    assert nothing_written(small)


def test_store_of_another_subject_is_refused(small):
    from brainenc.data.images import ArrayImages

    path = prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=small.parent)
    n = len(store_array(path, "image_ids"))
    images = ArrayImages(np.zeros((n, 2, 2, 3), np.uint8))
    assert load_store(path, images, expect={"subject": 1}).n_images == n
    with pytest.raises(ValueError, match="prepared for subject=1, not 2"):
        load_store(path, None, expect={"subject": 2})


def test_failure_mid_stream_leaves_nothing(small, monkeypatch):
    calls = {"n": 0}
    real = sources.read_session_surface

    def flaky(path, n):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(f"disk error reading {path}")
        return real(path, n)

    monkeypatch.setattr(sources, "read_session_surface", flaky)
    with pytest.raises(OSError, match="disk error"):
        prepare_nsd(1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=small.parent)
    assert nothing_written(small)


def test_cli_prepare_builds_the_store(tmp_path, capsys):
    import argparse

    from brainenc.data.commands import add_data_commands

    write_nsd_fixture(tmp_path / "nsd", 1, 2, spaces=("fsaverage",), stimuli=False)
    parser = argparse.ArgumentParser(prog="brainenc")
    add_data_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "data",
            "prepare",
            "nsd",
            "--subject",
            "1",
            "--sessions",
            "1-2",
            "--mesh",
            "fsaverage4",
            "--data-dir",
            str(tmp_path),
            "--dtype",
            "float16",
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    store = tmp_path / "nsd" / "prepared" / "subj01_fsaverage_sessions1-2_float16.h5"
    assert store.exists()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("chunks", [None, (750, 1, 1, 1), (750, 2, 3, 4)])
def test_read_volume_betas_by_chunks(tmp_path, chunks):
    import h5py

    grid = (4, 5, 7)  # X, Y, Z; Z = 7 leaves a partial last slab of 2-deep chunks
    rng = np.random.default_rng(0)
    vol = rng.integers(-3000, 3000, (750, *grid[::-1])).astype(np.int16)  # (750, Z, Y, X)
    flat = np.flatnonzero(rng.random(grid).ravel() < 0.6)
    with h5py.File(tmp_path / "b.hdf5", "w") as f:
        f.create_dataset("betas", data=vol, chunks=chunks)
    with h5py.File(tmp_path / "b.hdf5", "r") as f:
        got = nsd.read_volume_betas(f["betas"], flat, grid)
    expected = vol.transpose(0, 3, 2, 1).reshape(750, -1)[:, flat]
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32
