"""Reading the pickled ``.npy`` files some datasets ship, without running code from them.

A ``.npy`` file of dtype ``object`` holds a pickle, and unpickling runs whatever callables the
pickle names: ``np.load`` with pickles allowed runs the code of a crafted file.
:func:`load_pickled_npy` unpickles with an allow-list instead: numpy arrays, dtypes and scalars
(under their numpy 1 ``numpy.core`` and numpy 2 ``numpy._core`` module names alike, since the
released files were written by numpy 1) and plain Python containers. Anything else is refused
before it is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED = {
    **{(module, "_reconstruct"): np.ndarray.__reduce__(np.empty(0))[0] for module in _NUMPY_CORE},
    **{(module, "scalar"): np.float64(0).__reduce__()[0] for module in _NUMPY_CORE},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays and plain Python values "
                "may appear in a data file"
            ) from None


def load_pickled_npy(path: str | Path):
    """Load an object-dtype ``.npy`` file (e.g. a pickled dict) without running its code.

    Parameters
    ----------
    path : path-like
        The ``.npy`` file.

    Returns
    -------
    The stored object: the array, or for a 0-d object array (what ``np.save(path, a_dict)``
    writes) the object inside it.

    Raises
    ------
    ValueError
        The file is not a ``.npy`` file, or its pickle names anything but numpy arrays, dtypes,
        scalars and plain Python values.
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy format version {version}")
            _, _, dtype = read_header(f)
        except ValueError as e:
            raise ValueError(f"{path} is not a .npy file ({e}); download it again") from None
        if not dtype.hasobject:
            f.seek(0)
            return np.load(f, allow_pickle=False)
        try:
            array = _RestrictedUnpickler(io.BytesIO(f.read())).load()
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(
                f"{path} cannot be loaded safely ({e}); it is not the file the dataset ships: "
                "download it again from the dataset's site"
            ) from None
    if isinstance(array, np.ndarray) and array.dtype.hasobject and array.ndim == 0:
        return array.item()
    return array
