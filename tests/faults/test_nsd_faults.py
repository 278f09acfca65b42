"""NSD preparation: inputs checked first, corrupt files named, killed runs cleaned, NaN trials."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy.stats import zscore

from brainenc.data import nsd
from brainenc.data._fixtures import write_nsd_fixture
from brainenc.data.manifest import Manifest
from brainenc.data.nsd import prepare_nsd, sources

MAN = Manifest.load("nsd")
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def small(tmp_path):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 2, spaces=("fsaverage",), stimuli=False)
    return root


def _prepare(root, **kwargs):
    return prepare_nsd(
        1, sessions="1-2", mesh="fsaverage4", progress=False, data_dir=root.parent, **kwargs
    )


def test_missing_label_files_are_reported_before_any_session(small, monkeypatch):
    label = small / MAN.path("labels", "fsaverage", subject=1, hemi="lh", label="floc-faces")
    transform = small / MAN.path("transform", "fsaverage", subject=1, hemi="rh")
    label.unlink()
    transform.unlink()
    read = []
    monkeypatch.setattr(sources, "read_session_surface", lambda *a: read.append(a))
    with pytest.raises(FileNotFoundError, match="2 input files of NSD subject 1") as e:
        _prepare(small)
    assert str(label) in str(e.value) and str(transform) in str(e.value)
    assert "brainenc data download nsd --subject 1" in str(e.value)
    assert read == []  # no session was read before the check


def _slow_prepare(root):
    real = sources.read_session_surface

    def slow(*args):
        time.sleep(0.3)
        return real(*args)

    sources.read_session_surface = slow
    _prepare(root)


def test_killed_prepare_leaves_nothing_that_a_rerun_does_not_clean(small):
    child = FORK.Process(target=_slow_prepare, args=(small,))
    child.start()
    prepared = small / "prepared"
    deadline = time.monotonic() + 30
    while not list(prepared.glob(".*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert [p.name for p in prepared.glob(".*.part")]  # what a killed run leaves
    with pytest.warns(UserWarning, match=r"removed 1 unfinished store file\(s\)"):
        store = _prepare(small)
    assert sorted(p.name for p in prepared.iterdir()) == [store.name]


def test_corrupt_design_file_is_named(small):
    design = small / MAN.path("expdesign")
    design.write_bytes(design.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"nsd_expdesign\.mat is not a readable MATLAB file"):
        _prepare(small)


@pytest.mark.parametrize("fmt", ["hdf5", "nii.gz"])
def test_truncated_volume_betas_name_the_file_and_the_fix(tmp_path, monkeypatch, fmt):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 2, spaces=("func1pt8mm",), volume_formats=(fmt,), stimuli=False)
    key = "betas" if fmt == "hdf5" else "betas_nifti"
    beta = root / MAN.path(key, "func1pt8mm", subject=1, session=2)
    beta.write_bytes(beta.read_bytes()[: beta.stat().st_size // 2])
    read = []
    real = sources.VolumeSource.read
    monkeypatch.setattr(sources.VolumeSource, "read", lambda *a: read.append(a[1]) or real(*a))
    with pytest.raises(ValueError, match=rf"betas_session02\.{fmt} is truncated or corrupt"):
        prepare_nsd(1, "func1pt8mm", "1-2", progress=False, data_dir=tmp_path)
    # HDF5 shows truncation on open, so it is found before any session is read
    assert read == ([] if fmt == "hdf5" else [1, 2])
    assert not list((root / "prepared").glob("*"))


def test_a_nan_trial_is_left_out_of_its_average_only(small):
    design = nsd.NSDDesign.load(small / MAN.path("expdesign"))
    trial_ids, _ = design.trials(1, [1, 2])
    shown = {i: (trial_ids == i).sum() for i in np.unique(trial_ids)}
    repeated = next(t for t in range(750) if shown[trial_ids[t]] > 1)
    single = next(t for t in range(750) if shown[trial_ids[t]] == 1)
    path = small / MAN.path("betas", "fsaverage", subject=1, session=1, hemi="lh")
    img = nib.load(str(path))
    data = np.asarray(img.dataobj, np.float32)
    data[7, 0, 0, repeated] = data[8, 0, 0, single] = np.nan
    nib.MGHImage(data, img.affine).to_filename(str(path))
    with pytest.warns(UserWarning, match="2 single-trial betas were NaN .* 1 averages with no"):
        store = _prepare(small)

    with h5py.File(store) as f:
        ids, got = f["image_ids"][()], f["responses"][:, 7:9]
        meta = json.loads(f.attrs["meta"])
    for column, vertex in enumerate((7, 8)):
        # independent: z-score each session ignoring the NaN, average the finite repeats
        trials = []
        for s in (1, 2):
            p = small / MAN.path("betas", "fsaverage", subject=1, session=s, hemi="lh")
            betas = np.asarray(nib.load(str(p)).dataobj, np.float64)[vertex, 0, 0, :]
            trials.append(zscore(betas, nan_policy="omit"))
        trials = np.concatenate(trials)
        finite = [np.isfinite(trials[trial_ids == i]).any() for i in ids]
        expected = [np.nanmean(trials[trial_ids == i]) if ok else np.nan
                    for i, ok in zip(ids, finite, strict=True)]  # fmt: skip
        np.testing.assert_allclose(got[:, column], expected, atol=1e-5)
    assert np.isfinite(got[:, 0]).all()  # the repeated image keeps its other trial
    assert np.flatnonzero(~np.isfinite(got[:, 1])).tolist() == [
        np.searchsorted(ids, trial_ids[single])
    ]  # the image shown once has no trial left
    assert meta["missing_trials"] == 2
