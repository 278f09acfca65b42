"""Two processes filling the same feature cache, response store or encoder folder take turns."""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

from brainenc.data import ArrayImages
from brainenc.data._fixtures import write_nsd_fixture
from brainenc.data.nsd import prepare_nsd
from brainenc.encoders import LinearEncoder, load_encoder
from brainenc.features import Backbone, cached_features

FORK = multiprocessing.get_context("fork")  # children start at once, with brainenc imported


class SlowBackbone(Backbone):
    """Pooled pixels, 0.2 s per batch, logging each batch it computes to ``log``."""

    def __init__(self, log):
        super().__init__(spec="slow-test", embed_dim=48, input_size=16)
        self.log = log

    def embed(self, images):
        time.sleep(0.2)
        with open(self.log, "a") as f:
            f.write(f"{len(images)}\n")
        return F.adaptive_avg_pool2d(self.preprocess(images), 4).flatten(1)


def _fill_cache(cache, log, start, out):
    try:
        torch.set_num_threads(1)
        rng = np.random.default_rng(0)
        images = ArrayImages(rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8))
        start.wait()
        feats = cached_features(SlowBackbone(log), images, cache, batch_size=4, progress=False)
        np.save(out, feats)
    except BaseException:
        out.with_suffix(".err").write_text(traceback.format_exc())
        raise


def test_two_processes_fill_one_feature_cache(tmp_path):
    start = FORK.Event()
    outs = [tmp_path / f"features{i}.npy" for i in range(2)]
    procs = [
        FORK.Process(target=_fill_cache, args=(tmp_path / "cache", tmp_path / "log", start, o))
        for o in outs
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    errors = [o.with_suffix(".err").read_text() for o in outs if o.with_suffix(".err").exists()]
    assert errors == [] and [p.exitcode for p in procs] == [0, 0]
    np.testing.assert_array_equal(np.load(outs[0]), np.load(outs[1]))
    batches = (tmp_path / "log").read_text().split()
    assert sum(map(int, batches)) == 12  # extracted once: the second process read the file
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".h5") == []


def _in_threads(targets):
    """Call each of ``targets`` in its own thread, all at once; their results (or exceptions)."""
    results: list = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def run(i):
        barrier.wait()
        try:
            results[i] = targets[i]()
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_two_prepares_of_one_store_build_it_once(tmp_path):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 2, spaces=("fsaverage",), stimuli=False)

    def prepare():
        return prepare_nsd(1, "fsaverage", "1-2", root.parent, mesh="fsaverage4", progress=False)

    results = _in_threads([prepare, prepare])
    assert not any(isinstance(r, Exception) for r in results), results
    assert results[0] == results[1] and results[0].is_file()
    assert sorted(p.name for p in (root / "prepared").iterdir()) == [results[0].name]


def test_two_saves_of_one_encoder_take_turns(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal((40, 3))
    encoders = [LinearEncoder(cv=2).fit(x, y), LinearEncoder(cv=2).fit(x, 2 * y)]
    for _ in range(20):  # several rounds, so that an unlocked race shows
        results = _in_threads([lambda e=e: e.save(tmp_path / "enc") for e in encoders])
        assert not any(isinstance(r, Exception) for r in results), results
        loaded = load_encoder(tmp_path / "enc")
        assert any(np.array_equal(loaded.coef_, e.coef_) for e in encoders)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]


def test_a_lock_held_too_long_says_who_to_wait_for(tmp_path, capsys):
    from brainenc.files import file_lock

    with file_lock(tmp_path / "store.h5", "response store"):
        holder_done = threading.Event()
        errors = []

        def second():
            try:
                with file_lock(tmp_path / "store.h5", "response store", timeout=0.3):
                    pass
            except TimeoutError as e:
                errors.append(str(e))
            holder_done.set()

        threading.Thread(target=second).start()
        assert holder_done.wait(5)
    assert "response store" in errors[0] and "stayed locked by another process" in errors[0]
    assert "waiting for another process to finish the response store" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # the lock file went with the lock
