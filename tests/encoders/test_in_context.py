"""The in-context encoder: what its readouts depend on, meta-training that resumes and shards,
and the shipped world model against ridge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from brainenc.encoders import InContextEncoder, LinearEncoder, load_encoder, meta_train
from brainenc.encoders import meta_training as mt

TRAINING = {"steps": 6, "batch_size": 8, "context": (10, 60), "n_query": 30, "warmup": 2}


@pytest.fixture
def tiny(tiny_in_context) -> InContextEncoder:
    return InContextEncoder.load(tiny_in_context)


@pytest.fixture
def tasks(toy_tasks):
    return toy_tasks[0]


@pytest.fixture
def arch(toy_tasks):
    return toy_tasks[1]


def test_shuffled_context_responses_destroy_the_prediction(tiny, tasks):
    task = tasks(1, seed=7)[0]
    x, y = task.features, task.responses
    fit = tiny.fit(x[:60], y[:60]).score(x[100:], y[100:])
    shuffled = y[:60][np.random.default_rng(0).permutation(60)]
    destroyed = tiny.fit(x[:60], shuffled).score(x[100:], y[100:])
    assert np.median(fit) > 0.9
    # a readout of shuffled responses is a random direction: correlations scatter around 0
    assert abs(np.mean(destroyed)) < 0.2 and np.mean(destroyed**2) < 0.4


def test_context_order_changes_nothing(tiny, tasks):
    task = tasks(1, seed=8)[0]
    x, y = task.features[:80], task.responses[:80]
    order = np.random.default_rng(1).permutation(80)
    first = tiny.fit(x, y)
    coef, intercept = first.coef_.copy(), first.intercept_.copy()
    second = tiny.fit(x[order], y[order])
    np.testing.assert_allclose(second.coef_, coef, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(second.intercept_, intercept, rtol=1e-4, atol=1e-5)


def test_responses_units_do_not_matter(tiny, tasks):
    task = tasks(1, seed=9)[0]
    x, y = task.features[:80], task.responses[:80]
    base = tiny.fit(x, y).predict(x)
    scaled = tiny.fit(x, 5.0 * y - 30.0).predict(x)
    np.testing.assert_allclose(scaled, 5.0 * base - 30.0, rtol=1e-3, atol=1e-3)


def test_meta_training_resumes_after_a_kill(tmp_path, monkeypatch, tasks, arch):
    subjects = tasks(2, seed=3)
    encoder = InContextEncoder(**arch)
    whole = meta_train(subjects, tmp_path / "whole", encoder=encoder, progress=False,
                       checkpoint_every=2, **TRAINING)  # fmt: skip
    calls, real = [], mt.query_loss

    def killed_at_step_5(*args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # as a kill between checkpoints
        return real(*args)

    monkeypatch.setattr(mt, "query_loss", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        meta_train(subjects, tmp_path / "run", encoder=InContextEncoder(**arch),
                   progress=False, checkpoint_every=2, **TRAINING)  # fmt: skip
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 4
    monkeypatch.setattr(mt, "query_loss", real)
    lines = []
    resumed = meta_train(subjects, tmp_path / "run", encoder=InContextEncoder(**arch),
                         progress=False, checkpoint_every=2, say=lines.append,
                         **TRAINING)  # fmt: skip
    assert lines == [
        f"resuming meta-training at step 4 of 6 from {tmp_path / 'run' / 'checkpoint.pt'}"
    ]
    np.testing.assert_allclose(resumed.network_, whole.network_, rtol=1e-6, atol=1e-7)
    saved = load_encoder(tmp_path / "run" / "model")
    assert not saved.is_fitted and np.array_equal(saved.network_, resumed.network_)


def test_checkpoint_of_other_settings_is_refused(tmp_path, tasks, arch):
    subjects = tasks(1, seed=4)
    meta_train(subjects, tmp_path, encoder=InContextEncoder(**arch), progress=False,
               **TRAINING)  # fmt: skip
    with pytest.raises(ValueError, match="other settings; delete it"):
        meta_train(subjects, tmp_path, encoder=InContextEncoder(**arch),
                   progress=False, **{**TRAINING, "lr": 1e-3})  # fmt: skip


def test_meta_training_input_errors(tmp_path, tasks):
    subjects = tasks(1, seed=5)
    with pytest.raises(ValueError, match="at least one training subject"):
        meta_train([], tmp_path)
    with pytest.raises(ValueError, match="high \\+ n_query"):
        meta_train(subjects, tmp_path, context=(10, 500))
    wide = mt.MetaSubject(np.zeros((200, 7), np.float32), subjects[0].responses)
    with pytest.raises(ValueError, match="one width"):
        meta_train([*subjects, wide], tmp_path)


def test_encoder_errors(tiny, tiny_in_context, tmp_path):
    with pytest.raises(ValueError, match="meta-trained on 6"):
        tiny.fit(np.zeros((20, 5), np.float32), np.zeros((20, 2), np.float32))
    with pytest.raises(FileNotFoundError, match="no meta-trained in-context model"):
        InContextEncoder(pretrained=str(tmp_path / "nothing")).fit(
            np.zeros((5, 6)), np.zeros((5, 1))
        )
    with pytest.raises(ValueError, match=r"has width=16, .* but this encoder width=64"):
        InContextEncoder(pretrained=str(tiny_in_context)).fit(np.zeros((5, 6)), np.zeros((5, 1)))


DDP_SCRIPT = """
import sys
import torch.distributed as dist
from conftest import TINY_ARCHITECTURE, linear_tasks
from test_in_context import TRAINING

from brainenc.encoders import InContextEncoder, meta_train

dist.init_process_group("gloo")
meta_train(linear_tasks(2, seed=6), sys.argv[1], encoder=InContextEncoder(**TINY_ARCHITECTURE),
           progress=False, **{**TRAINING, "steps": 2})
dist.destroy_process_group()
"""


def test_two_processes_equal_one(tmp_path, tasks, arch):
    here = Path(__file__).parent
    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(tmp_path / "ddp.py"), str(tmp_path / "two")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(here), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    one = meta_train(tasks(2, seed=6), tmp_path / "one",
                     encoder=InContextEncoder(**arch), progress=False,
                     **{**TRAINING, "steps": 2})  # fmt: skip
    two = load_encoder(tmp_path / "two" / "model")
    torch.manual_seed(0)
    start = InContextEncoder(**arch)._new_network(6)
    assert not np.allclose(torch.nn.utils.parameters_to_vector(start.parameters()).detach(),
                           one.network_)  # the steps moved the weights  # fmt: skip
    np.testing.assert_allclose(two.network_, one.network_, rtol=1e-5, atol=1e-6)


def test_world_model_beats_ridge_on_few_images(world_data):
    """The shipped model, on subject 1 (never meta-trained on), from its first 30 and 100 images:
    median test r over the category ROIs (measured 0.609 vs 0.517 and 0.671 vs 0.615)."""
    from brainenc.world.clip import world_embeddings

    features = world_embeddings(world_data.images)
    category = np.any([world_data.roi(r) for r in ("FFA", "EBA", "PPA", "VWFA", "food")], 0)
    cols = np.flatnonzero(category)
    test = world_data.rows(world_data.test)[:, cols]
    for k, margin in ((30, 0.06), (100, 0.03)):
        train = world_data.train[:k]
        responses = world_data.rows(train)[:, cols]
        scores = {
            name: np.median(
                enc.fit(features[train], responses).score(features[world_data.test], test)
            )
            for name, enc in (("in-context", InContextEncoder()), ("ridge", LinearEncoder()))
        }
        assert scores["in-context"] > scores["ridge"] + margin, (k, scores)
