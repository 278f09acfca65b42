"""cached_features: reuse, keys, resuming an interrupted run, float16 storage, rebuilds."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainenc.data import ArrayImages
from brainenc.features import Backbone, cached_features, extract_features


class CountingBackbone(Backbone):
    """Average-pooled pixels (4 x 4 cells) that counts its forward calls and rows.

    ``fail_on_call=k`` raises on the k-th call, as an interrupted run would stop.
    """

    def __init__(self, spec: str = "counting", fail_on_call: int | None = None, weights_file=None):
        super().__init__(spec=spec, embed_dim=48, input_size=16, weights_file=weights_file)
        self.calls = self.rows = 0
        self.fail_on_call = fail_on_call

    def _cells(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("interrupted")
        self.rows += len(images)
        return F.adaptive_avg_pool2d(self.preprocess(images), 4)

    def embed(self, images):
        return self._cells(images).flatten(1)

    def tokens(self, images):
        return self._cells(images).flatten(2).transpose(1, 2)


@pytest.fixture
def images() -> ArrayImages:
    rng = np.random.default_rng(0)
    return ArrayImages(rng.integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8))


def _extract(images, feature_type="embed"):
    return extract_features(CountingBackbone(), images, feature_type=feature_type, progress=False)


def test_second_call_reuses_the_file(images, tmp_path):
    first = CountingBackbone()
    feats = cached_features(first, images, tmp_path, batch_size=4, progress=False)
    assert (first.calls, first.rows) == (3, 10)
    assert feats.dtype == np.float32 and feats.shape == (10, 48)
    np.testing.assert_array_equal(feats, _extract(images))
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path) as f:
        assert f.attrs["spec"] == "counting" and f.attrs["images"] == images.fingerprint
        assert f.attrs["feature_type"] == "embed" and f.attrs["input_size"] == 16
    second = CountingBackbone()
    np.testing.assert_array_equal(cached_features(second, images, tmp_path, progress=False), feats)
    assert second.calls == 0


def test_interrupted_run_resumes_with_the_missing_rows(images, tmp_path, capsys):
    failing = CountingBackbone(fail_on_call=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        cached_features(failing, images, tmp_path, batch_size=2, progress=False)
    (partial,) = tmp_path.glob("*.partial.h5")
    with h5py.File(partial) as f:
        assert f["done"][:].tolist() == [True] * 4 + [False] * 6
    resumed = CountingBackbone()
    feats = cached_features(resumed, images, tmp_path, batch_size=2, progress=True)
    assert (resumed.calls, resumed.rows) == (3, 6)
    assert " 4/10" in capsys.readouterr().err  # the bar starts at the rows already done
    np.testing.assert_array_equal(feats, _extract(images))
    assert [p.name.endswith(".partial.h5") for p in tmp_path.iterdir()] == [False]


def test_changed_inputs_are_extracted_again(images, tmp_path):
    cached_features(CountingBackbone(), images, tmp_path, progress=False)
    changed = images.array.copy()
    changed[3, 0, 0, 0] ^= 1
    variants = [
        (CountingBackbone(spec="counting:v2"), images, {}),
        (CountingBackbone(), ArrayImages(changed), {}),
        (CountingBackbone(), images, {"feature_type": "tokens"}),
        (CountingBackbone(), images, {"dtype": "float16"}),
    ]
    for n_files, (backbone, image_set, kwargs) in enumerate(variants, start=2):
        cached_features(backbone, image_set, tmp_path, progress=False, **kwargs)
        assert backbone.rows == 10
        assert len(list(tmp_path.glob("*.h5"))) == n_files


def test_a_rewritten_weights_file_is_extracted_again(images, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    cache = tmp_path / "cache"
    first = CountingBackbone(weights_file=weights)
    cached_features(first, images, cache, progress=False)
    same = CountingBackbone(weights_file=weights)
    cached_features(same, images, cache, progress=False)
    mtime = weights.stat().st_mtime_ns
    weights.write_bytes(b"secon")  # same spec, size and time; new contents: retrained in place
    os.utime(weights, ns=(mtime, mtime))
    rewritten = CountingBackbone(weights_file=weights)
    cached_features(rewritten, images, cache, progress=False)
    assert (first.rows, same.rows, rewritten.rows) == (10, 0, 10)
    assert len(list(cache.glob("*.h5"))) == 2


def test_float16_halves_the_file(tmp_path):
    rng = np.random.default_rng(1)
    images = ArrayImages(rng.integers(0, 256, size=(400, 16, 16, 3), dtype=np.uint8))
    full = cached_features(CountingBackbone(), images, tmp_path / "32", progress=False)
    half = cached_features(
        CountingBackbone(), images, tmp_path / "16", dtype="float16", progress=False
    )
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, full, rtol=1e-2)
    (size32,) = [p.stat().st_size for p in (tmp_path / "32").iterdir()]
    (size16,) = [p.stat().st_size for p in (tmp_path / "16").iterdir()]
    assert 0.45 < size16 / size32 < 0.6


def test_mismatched_attributes_are_rebuilt(images, tmp_path):
    expected = cached_features(CountingBackbone(), images, tmp_path, progress=False)
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "a") as f:
        f.attrs["spec"] = "something else"
        f["features"][0] = 0.0
    backbone = CountingBackbone()
    with pytest.warns(UserWarning, match="spec='something else' differ"):
        feats = cached_features(backbone, images, tmp_path, progress=False)
    assert backbone.rows == 10
    np.testing.assert_array_equal(feats, expected)


def test_corrupt_file_is_rebuilt(images, tmp_path):
    expected = cached_features(CountingBackbone(), images, tmp_path, progress=False)
    (path,) = tmp_path.glob("*.h5")
    path.write_bytes(b"not an hdf5 file")
    with pytest.warns(UserWarning, match="unreadable"):
        feats = cached_features(CountingBackbone(), images, tmp_path, progress=False)
    np.testing.assert_array_equal(feats, expected)


def test_mmap_and_loader_workers(images, tmp_path):
    tokens = cached_features(
        CountingBackbone(), images, tmp_path, feature_type="tokens", num_workers=1, progress=False
    )
    mapped = cached_features(CountingBackbone(), images, tmp_path, feature_type="tokens", mmap=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, tokens)
    np.testing.assert_array_equal(tokens, _extract(images, feature_type="tokens"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float64"}, "'float32', 'float16'"),
        ({"feature_type": "pooled"}, "'embed', 'tokens'"),
    ],
)
def test_bad_arguments_raise(images, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cached_features(CountingBackbone(), images, tmp_path, **kwargs)


def test_empty_image_set_raises(tmp_path):
    empty = ArrayImages(np.zeros((0, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty"):
        cached_features(CountingBackbone(), empty, tmp_path)
