"""Fixtures shared by every test folder: a small simulated subject from the in-silico world."""

from __future__ import annotations

import pytest

from brainenc.data.world import WorldSubject, load_world


@pytest.fixture(scope="session")
def world_subject():
    return WorldSubject(1)


@pytest.fixture(scope="session")
def world_data():
    """Subject 1 of the world: 600 training and 200 test images, 3 repeats."""
    return load_world(1, n_train=600, n_test=200)
