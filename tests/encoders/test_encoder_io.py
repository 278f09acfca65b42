"""Encoder save / load: round trip, metadata, atomic writes and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import KFold

from brainenc import __version__
from brainenc.encoders import ENCODERS, Encoder, LinearEncoder, base, load_encoder


def test_round_trip(tmp_path, world, fitted):
    meta = {"backbone": "open_clip:ViT-B-16/laion2b_s34b_b88k", "dataset": "world", "seed": 0}
    path = fitted.save(tmp_path / "enc", metadata=meta)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    config = json.loads((path / "config.json").read_text())
    assert config["encoder"] == "linear" and config["brainenc_version"] == __version__
    assert config["fitted"] is True
    assert config["shapes"]["coef"] == [25, 25]
    assert config["params"]["cv"] == "gcv"
    for loader in (load_encoder, LinearEncoder.load, Encoder.load):
        loaded = loader(path)
        assert isinstance(loaded, LinearEncoder)
        assert loaded.metadata_ == meta
        x = world.features[world.test]
        np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
        np.testing.assert_array_equal(loaded.best_alphas_, fitted.best_alphas_)
        np.testing.assert_array_equal(loaded.alphas, fitted.alphas)
    assert ENCODERS["linear"] is LinearEncoder


def test_save_replaces_previous_encoder(tmp_path, world, fitted):
    other = LinearEncoder(alphas=[1.0], cv=2).fit(world.features[:40], world.responses[:40, :3])
    other.save(tmp_path / "enc")
    fitted.save(tmp_path / "enc")
    assert load_encoder(tmp_path / "enc").n_targets_ == 25
    assert [p.name for p in tmp_path.iterdir()] == ["enc"]


def test_save_failing_midway_leaves_nothing(tmp_path, fitted, monkeypatch):
    def broken(arrays, filename):
        with open(filename, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(base, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(tmp_path / "enc")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_foreign_directory(tmp_path, fitted):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an encoder directory"):
        fitted.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_save_unfitted_raises(tmp_path):
    with pytest.raises(ValueError, match="not fitted yet"):
        LinearEncoder().save(tmp_path / "enc")


def test_load_errors(tmp_path, fitted):
    with pytest.raises(FileNotFoundError, match=r"no encoder at .*does not exist"):
        load_encoder(tmp_path / "missing")
    path = fitted.save(tmp_path / "enc")
    weights = (path / "weights.safetensors").read_bytes()
    (path / "weights.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_encoder(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_encoder(path)
    (path / "config.json").write_text(json.dumps({"encoder": "quantum"}))
    with pytest.raises(ValueError, match=r"encoder 'quantum'; known encoders: .*linear"):
        load_encoder(path)


def test_splitter_cv_is_recorded_not_saved(tmp_path, world):
    enc = LinearEncoder(alphas=[1.0, 10.0], cv=KFold(3, shuffle=True, random_state=0))
    path = enc.fit(world.features[:60], world.responses[:60]).save(tmp_path / "enc")
    config = json.loads((path / "config.json").read_text())
    assert "KFold" in config["params_not_saved"]["cv"]
    loaded = load_encoder(path)
    assert loaded.cv == "gcv"  # the default; set it again before refitting
    np.testing.assert_array_equal(loaded.coef_, enc.coef_)
