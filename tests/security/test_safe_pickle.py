"""``load_pickled_npy``: the released numpy 1 files load, anything but plain values is refused."""

from __future__ import annotations

import numpy as np
import pytest

from brainenc.data._fixtures import save_numpy1_pickle
from brainenc.data.safe_pickle import load_pickled_npy

MAPPING = {0: "Unknown", 1: "V1v", 2: "V1d", np.int64(3): "hV4"}


def test_numpy1_and_numpy2_mapping_files_load(tmp_path):
    save_numpy1_pickle(tmp_path / "numpy1.npy", MAPPING)
    assert b"cnumpy.core.multiarray\n_reconstruct" in (tmp_path / "numpy1.npy").read_bytes()
    np.save(tmp_path / "numpy2.npy", np.array(MAPPING, dtype=object), allow_pickle=True)
    for name in ("numpy1.npy", "numpy2.npy"):
        assert load_pickled_npy(tmp_path / name) == MAPPING
    np.save(tmp_path / "plain.npy", np.arange(4))
    np.testing.assert_array_equal(load_pickled_npy(tmp_path / "plain.npy"), np.arange(4))


def test_crafted_npy_is_refused_without_running_code(tmp_path, crafted_npy):
    marker = crafted_npy(tmp_path / "evil.npy")
    with pytest.raises(ValueError, match=r"evil\.npy cannot be loaded safely .*refusing"):
        load_pickled_npy(tmp_path / "evil.npy")
    assert not marker.exists()
