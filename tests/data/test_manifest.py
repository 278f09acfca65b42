import json
import os

import pytest

from brainenc.data.manifest import LockFile, Manifest, parse_sessions


def test_parse_sessions_forms():
    assert parse_sessions("1-3") == [1, 2, 3]
    assert parse_sessions("1,3,5-7") == [1, 3, 5, 6, 7]
    assert parse_sessions([4, 2, 2]) == [2, 4]
    assert parse_sessions("all", 30) == list(range(1, 31))
    assert parse_sessions(None, 2) == [1, 2]


@pytest.mark.parametrize("bad", ["x", "3-1", "0-2", ""])
def test_parse_sessions_rejects(bad):
    with pytest.raises(ValueError):
        parse_sessions(bad, 40)


def test_sessions_beyond_subject_name_the_limit():
    with pytest.raises(ValueError, match="1-30"):
        parse_sessions("1-40", 30)


def test_nsd_templates_expand_to_the_bucket_paths():
    m = Manifest.load("nsd")
    assert m.base_url == "https://natural-scenes-dataset.s3.amazonaws.com/"
    assert m.path("betas", "fsaverage", subject=1, session=7, hemi="lh") == (
        "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR/lh.betas_session07.mgh"
    )
    assert m.path("betas", "func1pt8mm", subject=8, session=30) == (
        "nsddata_betas/ppdata/subj08/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session30.hdf5"
    )
    assert m.path("ctab", subject=2, label="floc-faces") == (
        "nsddata/freesurfer/subj02/label/floc-faces.mgz.ctab"
    )
    assert m.entry("stimuli")["shape"] == [73000, 425, 425, 3]


def test_nsd_file_selection_counts():
    m = Manifest.load("nsd")
    files = m.files(4, "fsaverage")  # subject 4 has 30 sessions
    betas = [f for f in files if f.key == "betas"]
    assert len(betas) == 30 * 2
    assert {f.fields["session"] for f in betas} == set(range(1, 31))
    no_stim = m.files(1, "fsaverage", "1-2", exclude=["stimuli"])
    assert all(f.key != "stimuli" for f in no_stim)
    assert not any(f.key == "betas_nifti" for f in m.files(1, "func1pt8mm", "1"))
    assert (
        sum(f.key == "betas_nifti" for f in m.files(1, "func1pt8mm", "1", include=["betas_nifti"]))
        == 1
    )


def test_bad_subject_space_and_key_are_named():
    m = Manifest.load("nsd")
    with pytest.raises(ValueError, match="no subject 9"):
        m.files(9, "fsaverage")
    with pytest.raises(ValueError, match="fsaverage5"):
        m.files(1, "fsaverage5")
    with pytest.raises(ValueError, match="unknown file key 'betaz'"):
        m.files(1, "fsaverage", exclude=["betaz"])


def test_invalid_manifests_are_refused():
    base = {"dataset": {"name": "x"}}
    with pytest.raises(ValueError, match="unknown template fields"):
        Manifest.from_dict({**base, "files": [{"key": "a", "path": "{run}.npy"}]})
    with pytest.raises(ValueError, match="lists no labels"):
        Manifest.from_dict({**base, "files": [{"key": "a", "path": "{label}.npy"}]})
    with pytest.raises(ValueError, match="one count per subject"):
        Manifest.from_dict(
            {
                **base,
                "subjects": {"ids": [1, 2], "sessions": [3]},
                "files": [{"key": "a", "path": "a"}],
            }
        )


def test_lock_file_round_trip_and_dataset_check(tmp_path):
    lock = LockFile(tmp_path, "nsd")
    lock.record("a/b.mgh", "ab" * 32, 10, 123, "http://x/a/b.mgh")
    again = LockFile(tmp_path, "nsd")
    assert again.get("a/b.mgh")["sha256"] == "ab" * 32
    assert json.loads((tmp_path / "brainenc-lock.json").read_text())["dataset"] == "nsd"
    assert [p.name for p in tmp_path.iterdir()] == ["brainenc-lock.json"]  # no temp files left
    with pytest.raises(ValueError, match="belongs to dataset 'nsd'"):
        LockFile(tmp_path, "algonauts2023")


def test_an_installed_package_finds_its_manifests_through_importlib_resources(tmp_path):
    """The wheel's layout (pyproject's force-include), imported without the repository."""
    import shutil
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    import brainenc

    repo = Path(brainenc.__file__).parents[1]
    with open(repo / "pyproject.toml", "rb") as f:
        wheel = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"data_manifests": "brainenc/data_manifests"}
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.safetensors")
    shutil.copytree(repo / "brainenc", site / "brainenc", ignore=ignore)
    shutil.copytree(repo / "data_manifests", site / "brainenc" / "data_manifests")
    code = (
        "import brainenc\nfrom brainenc.data.manifest import Manifest, manifest_dir\n"
        "print(brainenc.__file__)\nprint(manifest_dir())\nprint(Manifest.load('nsd').source)"
    )
    env = {k: v for k, v in os.environ.items() if k != "BRAINENC_MANIFESTS"}
    env["PYTHONPATH"] = str(site)
    # -S: no site-packages, so neither an editable install nor the repository is importable
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    package, folder, source = out.stdout.split()
    assert package == str(site / "brainenc" / "__init__.py")
    assert folder == str(site / "brainenc" / "data_manifests")
    assert source == str(site / "brainenc" / "data_manifests" / "nsd.toml")
