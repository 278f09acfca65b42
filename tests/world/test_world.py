"""The in-silico world: stimuli, the oracle, simulated subjects and ``load_world``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data.images import to_tensor
from brainenc.world import (
    CATEGORIES,
    ROI_NAMES,
    WorldSubject,
    generate_stimuli,
    load_oracle,
    load_world,
)
from brainenc.world.oracle import CategoryOracle
from brainenc.world.subjects import _fsaverage5
from brainenc.world.synthesis import WorldBench
from brainenc.world.training.oracle import oracle_accuracy


def test_stimuli_are_deterministic_and_independent_of_n():
    a = generate_stimuli(12, seed=3)
    b = generate_stimuli(4, seed=3, start=8)
    np.testing.assert_array_equal(a.images[8:], b.images[:])
    assert a.captions[8:] == b.captions
    assert not np.array_equal(generate_stimuli(4, seed=4).images[:], a.images[:4])


def test_stimuli_cycle_categories_and_caption_them():
    stim = generate_stimuli(10, seed=0)
    assert stim.images[:].shape == (10, 64, 64, 3) and stim.images[:].dtype == np.uint8
    assert stim.categories == list(CATEGORIES) * 2
    keywords = {"face": "face", "body": "person", "word": "word", "food": "plate"}
    for category, text in zip(stim.categories, stim.captions, strict=True):
        if category in keywords:
            assert keywords[category] in text
        else:
            assert any(w in text for w in ("street", "house", "room"))


def test_oracle_classifies_heldout_images():
    assert oracle_accuracy(load_oracle(), n=300) >= 0.97


def test_rois_are_exclusive_and_placed(world_subject):
    masks = np.array([world_subject.rois[name] for name in ROI_NAMES])
    assert masks.sum(0).max() == 1, "a vertex belongs to two ROIs"
    n_left = 10242
    for name in ROI_NAMES:
        assert masks[ROI_NAMES.index(name), :n_left].sum() > 5, name
        if name == "VWFA":
            assert world_subject.rois[name][n_left:].sum() == 0  # left-lateralised
        else:
            assert world_subject.rois[name][n_left:].sum() > 5, name
    pial = _fsaverage5()["right"][0]
    ffa = pial[world_subject.rois["FFA"][n_left:]].mean(0)
    assert np.linalg.norm(ffa - np.array([40, -55, -20])) < 15
    v1 = pial[world_subject.rois["V1"][n_left:]].mean(0)
    assert v1[1] < -80  # occipital pole


def test_subjects_differ():
    a, b = WorldSubject(1), WorldSubject(2)
    assert not np.array_equal(a.rois["FFA"], b.rois["FFA"])
    assert not np.allclose(a.ncsnr, b.ncsnr)


def test_category_rois_prefer_their_category(world_subject):
    stim = generate_stimuli(250, seed=11)
    r = world_subject.respond(stim.images)
    preferred = {
        "FFA": "face",
        "OFA": "face",
        "EBA": "body",
        "PPA": "place",
        "OPA": "place",
        "RSC": "place",
        "VWFA": "word",
        "food": "food",
    }
    for roi, category in preferred.items():
        mean = r[:, world_subject.rois[roi]].mean(1)
        by_category = [mean[stim.labels == k].mean() for k in range(len(CATEGORIES))]
        assert int(np.argmax(by_category)) == CATEGORIES.index(category), (roi, by_category)


def test_early_visual_cortex_is_retinotopic(world_subject):
    """A patch in the right visual field drives left V1 (and vice versa)."""
    gray = torch.full((2, 3, 64, 64), 0.5)
    checker = (torch.arange(64)[:, None] // 2 + torch.arange(64)[None] // 2) % 2
    gray[0, :, 24:40, 40:56] = checker[24:40, 40:56].float()  # right of fixation
    gray[1, :, 24:40, 8:24] = checker[24:40, 8:24].float()  # left of fixation
    r = world_subject.respond(gray)
    v1 = world_subject.rois["V1"]
    left, right = v1.copy(), v1.copy()
    left[10242:], right[:10242] = False, False
    assert r[0, left].mean() > r[0, right].mean() + 0.5
    assert r[1, right].mean() > r[1, left].mean() + 0.5


def test_response_sd_is_the_vertex_ncsnr(world_subject):
    r = world_subject.respond(generate_stimuli(400, seed=12).images)
    assert np.corrcoef(r.std(0), world_subject.ncsnr)[0, 1] > 0.97


def test_responses_are_differentiable(world_subject):
    images = to_tensor(generate_stimuli(2, seed=0).images[:]).requires_grad_(True)
    world_subject(images)[:, world_subject.rois["FFA"]].mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_load_world_recovers_the_true_noise_ceiling(world_data):
    d = world_data
    assert d.responses.shape == (800, 20484) and d.repeats.shape == (3, 200, 20484)
    assert len(np.intersect1d(d.train, d.test)) == 0
    np.testing.assert_allclose(d.repeats.mean(0), d.rows(d.test), atol=1e-5)
    true = d.truth["noise_ceiling"]
    assert np.corrcoef(d.noise_ceiling, true)[0, 1] > 0.85
    assert np.median(true[d.roi("V1")]) > 0.6 and np.median(true) < 0.1


def test_load_world_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_repeats"):
        load_world(1, n_train=10, n_test=10, n_repeats=1)
    with pytest.raises(ValueError, match="subject"):
        WorldSubject(0)
    with pytest.raises(KeyError, match=r"unknown ROI 'FFA2'.*FFA"):
        load_world(1, n_train=10, n_test=10).roi("FFA2")


def test_a_subject_with_its_own_oracle_simulates_its_own_truth():
    """load_world and WorldBench read the oracle of the WorldSubject they are given."""
    torch.manual_seed(0)
    other = WorldSubject(1, oracle=CategoryOracle().eval())
    mine = load_world(other, n_train=8, n_test=4)
    shipped = load_world(1, n_train=8, n_test=4)
    assert mine.meta["subject"] == 1 and mine.rois.keys() == shipped.rois.keys()
    ffa, v1 = shipped.roi("FFA"), shipped.roi("V1")
    signal = mine.truth["test_signal"], shipped.truth["test_signal"]
    np.testing.assert_allclose(signal[0][:, v1], signal[1][:, v1], atol=1e-4)  # no category
    assert not np.allclose(signal[0][:, ffa], signal[1][:, ffa], atol=0.1)
    bench = WorldBench.build(other, judges=False)
    assert bench.subject == 1 and bench.truth.readout is other
