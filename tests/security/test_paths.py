"""Paths read from files stay inside their root: manifests, download, prepare, bring-your-own."""

from __future__ import annotations

import shutil

import pytest

from brainenc.data._fixtures import write_byo_fixture, write_nsd_fixture
from brainenc.data.byo import load_byo
from brainenc.data.download import download, plan_download
from brainenc.data.manifest import Manifest, manifest_dir
from brainenc.data.nsd import prepare_nsd

UNREACHABLE = "http://127.0.0.1:9/"


@pytest.mark.parametrize(
    "entry",
    [
        {"key": "a", "path": "../../escaped.bin"},
        {"key": "a", "path": "/tmp/escaped.bin"},
        {"key": "a", "path": "labels/{label}.bin", "labels": ["../../../escaped"]},
    ],
)
def test_download_refuses_file_paths_out_of_the_dataset_root(tmp_path, entry):
    m = Manifest.from_dict({"dataset": {"name": "toy", "base_url": UNREACHABLE}, "files": [entry]})
    with pytest.raises(ValueError, match=r"file path in <memory> is .*must be a relative path"):
        download(m, data_dir=tmp_path / "data", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../outside", "/tmp/outside"])
def test_dataset_name_cannot_leave_the_data_folder(tmp_path, name):
    m = Manifest.from_dict({"dataset": {"name": name}, "files": [{"key": "a", "path": "a.bin"}]})
    with pytest.raises(ValueError, match=r"dataset name in <memory> is"):
        plan_download(m, data_dir=tmp_path / "data")


def test_prepare_refuses_a_manifest_path_out_of_the_root(tmp_path, monkeypatch):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 1, spaces=("fsaverage",), stimuli=False)
    design = "nsddata/experiments/nsd/nsd_expdesign.mat"
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(root / design, tmp_path / "elsewhere" / "nsd_expdesign.mat")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    text = (manifest_dir() / "nsd.toml").read_text()
    (manifests / "nsd.toml").write_text(text.replace(design, "../elsewhere/nsd_expdesign.mat"))
    monkeypatch.setenv("BRAINENC_MANIFESTS", str(manifests))
    with pytest.raises(ValueError, match=r"'expdesign' file path in .*must be a relative path"):
        prepare_nsd(1, "fsaverage", "1", progress=False, data_dir=root.parent)
    assert not (root / "prepared").exists()


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ('path = "responses.npy"', 'path = "../outside.npy"', r"\[responses\] path"),
        ('path = "responses.npy"', 'path = "{outside}"', r"\[responses\] path"),
        ('folder = "images"', 'folder = "../images"', r"\[images\] folder"),
        ('pattern = "*.png"', 'pattern = "../*/*.png"', r"\[images\] pattern"),
        ('test = "test.txt"', 'test = "../test.txt"', r"\[split\] test"),
        ('early = "rois/early.npy"', 'early = "../early.npy"', r"\[rois\] early path"),
        ('path = "nc.npy"', 'path = "../nc.npy"', r"\[noise_ceiling\] path"),
    ],
)
def test_byo_refuses_files_outside_the_study_folder(tmp_path, old, new, what):
    study, outside = tmp_path / "study", tmp_path / "outside"
    info = write_byo_fixture(study, "npy", n_images=6)
    write_byo_fixture(outside, "npy", n_images=6)  # the same files one folder up: readable
    for name in ("outside.npy", "early.npy", "nc.npy", "test.txt"):
        src = {"outside.npy": "responses.npy", "early.npy": "rois/early.npy"}.get(name, name)
        shutil.copy(outside / src, tmp_path / name)
    shutil.copytree(outside / "images", tmp_path / "images")
    toml = info["toml"]
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new.format(outside=outside / "responses.npy"), 1))
    with pytest.raises(ValueError, match=what + " is .*must be a relative path inside"):
        load_byo(toml)


def test_byo_image_list_cannot_name_files_outside(tmp_path):
    info = write_byo_fixture(tmp_path / "study", "npy", n_images=6)
    names = sorted(p.name for p in (tmp_path / "study" / "images").iterdir())
    names[0] = "../../secret.png"
    (tmp_path / "study" / "list.txt").write_text("\n".join(names))
    toml = info["toml"]
    toml.write_text(toml.read_text().replace('pattern = "*.png"', 'list = "list.txt"'))
    with pytest.raises(ValueError, match=r"image name in .*list\.txt is '\.\./\.\./secret\.png'"):
        load_byo(toml)
