"""``draw_map``: a cortical map drawn into a run folder's ``maps/`` (see :mod:`brainenc.run`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..data.brain_data import BrainData
from ..run import MAPS
from .cortical_map import CorticalMap
from .interactive import view_surface
from .surface import DEFAULT_VIEWS, plot_surface
from .volume import plot_volume


def draw_map(
    cortical_map: CorticalMap,
    data: BrainData,
    run_dir: str | os.PathLike,
    name: str,
    *,
    views: Sequence[str] = DEFAULT_VIEWS,
    interactive: bool = False,
    reference=None,
    dpi: int = 100,
) -> dict:
    """Draw a map into ``<run_dir>/maps/<name>.png``, on the surface or in the volume.

    Parameters
    ----------
    cortical_map : CorticalMap
    data : BrainData
        Its space picks :func:`plot_surface` or :func:`plot_volume`; its ROIs are outlined.
    run_dir : path
        The run folder.
    name : str
        File name without suffix.
    views : sequence of str
        Surface views (see :func:`plot_surface`).
    interactive : bool
        Also write ``<name>.html`` (:func:`view_surface`; surface spaces, continuous maps).
    reference : path or nibabel image, optional
        Background of volume maps (see :func:`plot_volume`).
    dpi : int

    Returns
    -------
    dict
        The entry for ``summary.json``'s ``"maps"``: ``file``, ``title`` and, when written,
        ``interactive`` (paths relative to ``run_dir``).
    """
    run_dir = Path(run_dir)
    png = Path(MAPS) / f"{name}.png"
    if data.space.is_surface:
        plot_surface(cortical_map, data, views=views, out=run_dir / png, dpi=dpi)
    else:
        plot_volume(cortical_map, data, reference=reference, out=run_dir / png, dpi=dpi)
    entry = {"file": png.as_posix(), "title": cortical_map.title or name}
    if interactive and data.space.is_surface and cortical_map.categories is None:
        html = Path(MAPS) / f"{name}.html"
        view_surface(cortical_map, data, out=run_dir / html)
        entry["interactive"] = html.as_posix()
    return entry
