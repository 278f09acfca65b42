"""Fixtures of the security tests: a crafted pickle that runs code when it is unpickled."""

from __future__ import annotations

import pickle

import numpy as np
import pytest


class _Payload:
    """Unpickling it calls ``marker.touch()``: what a crafted data file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


@pytest.fixture
def crafted_npy(tmp_path):
    """``crafted_npy(path)`` writes an object ``.npy`` whose unpickling creates a marker file.

    Returns the marker's path; it exists afterwards only if code from the file ran.
    """

    def write(path):
        marker = tmp_path / "code-ran"
        with open(path, "wb") as f:
            header = {"descr": "|O", "fortran_order": False, "shape": ()}
            np.lib.format.write_array_header_1_0(f, header)
            pickle.dump(_Payload(marker), f, protocol=3)
        return marker

    return write
