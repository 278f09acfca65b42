"""Composite scenes: objects at recorded positions, seen by the truth wherever they lie."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data.images import to_tensor
from brainenc.world import CATEGORIES, generate_stimuli, load_oracle, load_world
from brainenc.world.stimuli import COMPOSITE_SIZE, IMAGE_SIZE, generate_composites


def test_composites_hold_two_or_three_objects_in_their_boxes():
    scenes = generate_composites(40, seed=5)
    again = generate_composites(10, seed=5, start=30)
    np.testing.assert_array_equal(scenes.images[30:40], again.images[:])
    assert scenes.images[:].shape == (40, COMPOSITE_SIZE, COMPOSITE_SIZE, 3)
    counts, slots = set(), set()
    for image, attrs, label in zip(scenes.images[:], scenes.attributes, scenes.labels,
                                   strict=True):  # fmt: skip
        objects = attrs["objects"]
        counts.add(len(objects))
        names = [o["category"] for o in objects]
        assert len(set(names)) == len(names) and CATEGORIES[label] == names[0]
        boxes = np.array([o["box"] for o in objects])
        assert (boxes[:, 2:] - boxes[:, :2] == IMAGE_SIZE).all()
        assert boxes.min() >= 0 and boxes.max() <= COMPOSITE_SIZE
        assert not (boxes % IMAGE_SIZE).any()  # objects fill slots of the 2 x 2 grid
        slots.update(map(tuple, boxes[:, :2]))
        for a in range(len(boxes)):  # no two boxes overlap
            for b in range(a + 1, len(boxes)):
                overlap = np.minimum(boxes[a, 2:], boxes[b, 2:]) - np.maximum(
                    boxes[a, :2], boxes[b, :2]
                )
                assert (overlap <= 0).any()
        x0, y0, x1, y1 = objects[0]["box"]
        assert image[y0:y1, x0:x1].std() > 10  # an object, not the plain background
    assert counts == {2, 3} and len(slots) == 4  # every slot is used


def test_oracle_sees_objects_anywhere_in_a_composite_and_world_images_whole():
    oracle = load_oracle()
    scenes = generate_composites(60, seed=6)
    with torch.no_grad():
        evidence = oracle.evidence(to_tensor(scenes.images[:])).numpy()
        single = to_tensor(generate_stimuli(20, seed=6).images[:])
        torch.testing.assert_close(oracle.evidence(single), torch.sigmoid(oracle(single)))
    present = np.zeros_like(evidence, bool)
    for i, attrs in enumerate(scenes.attributes):
        for obj in attrs["objects"]:
            present[i, CATEGORIES.index(obj["category"])] = True
    for k in range(len(CATEGORIES)):  # every category: evidence where present, little where not
        assert np.median(evidence[present[:, k], k]) > 0.35
        assert np.median(evidence[~present[:, k], k]) < 0.1
    for k in (0, 2, 4):  # face, place, food: strong evidence
        assert np.median(evidence[present[:, k], k]) > 0.7


def test_empty_slots_carry_no_category_evidence():
    """Empty slots must not drive a region: the plain field of a composite gives every category
    little evidence (a field of any other background colour looks like a word image without its
    word: median word evidence 0.25)."""
    scenes = generate_composites(60, seed=7)
    empty = []
    for image, attrs in zip(scenes.images[:], scenes.attributes, strict=True):
        used = {tuple(obj["box"][:2]) for obj in attrs["objects"]}
        slots = [(x, y) for y in (0, IMAGE_SIZE) for x in (0, IMAGE_SIZE) if (x, y) not in used]
        empty += [image[y : y + IMAGE_SIZE, x : x + IMAGE_SIZE] for x, y in slots]
    assert len(empty) > 40
    with torch.no_grad():
        evidence = load_oracle().evidence(to_tensor(np.stack(empty))).numpy()
    assert (np.median(evidence, 0) < 0.1).all() and evidence.max() < 0.15


def test_load_world_composites_record_boxes():
    data = load_world(1, n_train=6, n_test=4, stimuli="composite")
    assert data.images[:].shape == (10, COMPOSITE_SIZE, COMPOSITE_SIZE, 3)
    assert data.meta["stimuli"] == "composite"
    boxes, labels = data.truth["boxes"], data.truth["box_labels"]
    assert boxes.shape == (10, 3, 4) and labels.shape == (10, 3)
    assert ((labels >= 0) == np.isfinite(boxes).all(2)).all() and (labels[:, :2] >= 0).all()
    assert "labels" not in data.truth  # no single category per image
    with pytest.raises(ValueError, match="stimuli must be one of single, composite"):
        load_world(1, n_train=6, n_test=4, stimuli="scenes")
