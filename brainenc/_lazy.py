"""Package attributes imported on first use, so that importing a package loads none of its parts.

The ``brainenc`` command registers its subcommands from several packages; with lazy attributes its
``--help`` starts without loading torch, nibabel or nilearn's plotting.
"""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str], submodules=()):
    """Module-level ``__getattr__`` and ``__dir__`` that import each name from its module on use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Public name to the module (relative to ``package``, e.g. ``".nsd"``) that defines it.
    submodules : sequence of str
        Submodules that are themselves public attributes (``"metrics"``).

    Returns
    -------
    (__getattr__, __dir__)
        Assign both in the package's ``__init__``.

    Examples
    --------
    >>> __getattr__, __dir__ = lazy_exports(__name__, {"load_nsd": ".nsd"})  # doctest: +SKIP
    """

    def __getattr__(name: str):
        if name in submodules:
            return import_module(f".{name}", package)
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name], package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports) | set(submodules))

    return __getattr__, __dir__
