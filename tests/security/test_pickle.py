"""Data files never run code: the Algonauts reader refuses a crafted mapping file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import brainenc
from brainenc.data._fixtures import write_algonauts_fixture
from brainenc.data.algonauts import load_algonauts


def test_algonauts_reader_refuses_a_crafted_mapping(tmp_path, crafted_npy):
    write_algonauts_fixture(tmp_path / "algonauts2023", 1, n_train=6, n_test=2)
    assert load_algonauts(1, data_dir=tmp_path).rois  # the released layout loads
    marker = crafted_npy(
        tmp_path / "algonauts2023" / "subj01" / "roi_masks" / "mapping_floc-faces.npy"
    )
    with pytest.raises(ValueError, match=r"mapping_floc-faces.npy cannot be loaded safely"):
        load_algonauts(1, data_dir=tmp_path)
    assert not marker.exists()


def test_no_module_unpickles_or_evaluates_untrusted_input():
    package = Path(brainenc.__file__).parent
    risky = {
        "np.load(allow_pickle=True)": r"allow_pickle\s*=\s*True",
        "pickle.load": r"\bpickle\.loads?\(",
        "torch.load without weights_only=True": r"torch\.load\((?![^)]*weights_only=True)",
        "eval / exec": r"(?<![\w.])(eval|exec)\(",
        "shell=True": r"shell\s*=\s*True",
    }
    found = [
        f"{path.relative_to(package)}: {what}"
        for path in sorted(package.rglob("*.py"))
        for what, pattern in risky.items()
        if re.search(pattern, path.read_text())
    ]
    assert found == []
