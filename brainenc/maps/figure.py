"""What every map figure shares: its colour key, and atomic writes of what is drawn."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..files import write_atomically
from .cortical_map import CorticalMap

LEGEND_COLUMNS = 6
_COLORBAR_BAND = 0.85  # inches for a colour bar, its ticks and its label
_LEGEND_TITLE = 0.3  # inches for a legend's title
_LEGEND_ROW = 0.2  # inches per row of a legend at fontsize "small"


def key_height(cortical_map: CorticalMap) -> float:
    """Inches that :func:`add_colour_key` needs at the bottom of a figure."""
    if cortical_map.categories is None:
        return _COLORBAR_BAND
    return _LEGEND_TITLE + _LEGEND_ROW * -(-cortical_map.n_colors // LEGEND_COLUMNS) + 0.1


def add_colour_key(fig: Figure, cortical_map: CorticalMap, threshold: float | None = None) -> None:
    """Explain a map's colours in the bottom :func:`key_height` inches of its figure.

    A colour bar labelled with the map's ``colorbar_label``, or, for a categorical map, a legend
    of its categories titled with it. The colour bar ends in an arrow on each side where values
    lie beyond the colour range (they take its end colour).

    Parameters
    ----------
    fig : Figure
    cortical_map : CorticalMap
        The map drawn (its colormap, range, label and categories).
    threshold : float, optional
        Values below it in magnitude are hidden: their range is greyed out on the colour bar.
    """
    height = fig.get_size_inches()[1]
    cmap = cortical_map.colormap()
    if cortical_map.categories is not None:
        fig.legend(
            handles=[
                Patch(color=cmap(i), label=name) for i, name in enumerate(cortical_map.categories)
            ],
            title=cortical_map.colorbar_label,
            loc="upper center",
            bbox_to_anchor=(0.5, key_height(cortical_map) / height),
            ncols=min(cortical_map.n_colors, LEGEND_COLUMNS),
            frameon=False,
            fontsize="small",
        )
        return
    vmin, vmax = cortical_map.colour_range()
    finite = cortical_map.values[np.isfinite(cortical_map.values)]
    below, above = bool((finite < vmin).any()), bool((finite > vmax).any())
    cbar = fig.colorbar(
        ScalarMappable(Normalize(vmin, vmax), cmap),
        cax=fig.add_axes((0.3, 0.5 / height, 0.4, 0.14 / height)),
        orientation="horizontal",
        label=cortical_map.colorbar_label,
        extend={(True, True): "both", (True, False): "min", (False, True): "max"}.get(
            (below, above), "neither"
        ),
    )
    if threshold is not None:  # grey out the hidden range, as nilearn does
        cbar.ax.axvspan(max(-threshold, vmin), min(threshold, vmax), color="0.75")


def save_atomically(fig: Figure, out: str | os.PathLike, dpi: int) -> Path:
    """Save a figure atomically (:func:`write_atomically`); the format comes from the suffix."""
    out = Path(out)
    return write_atomically(
        out, lambda tmp: fig.savefig(tmp, format=out.suffix[1:] or "png", dpi=dpi)
    )
