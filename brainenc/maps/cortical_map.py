"""``CorticalMap``: one value per target together with how to show it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, ListedColormap

#: Colours of the ROIs, in order (cycled): their fill in :func:`roi_map`. Outlines are drawn
#: in one colour that no map uses (:data:`brainenc.maps.outlines.OUTLINE_COLOR`).
ROI_COLORS = (
    "#17becf", "#2ca02c", "#e377c2", "#1f77b4", "#d62728", "#9467bd",
    "#00ff7f", "#8c564b", "#ff00ff", "#000080", "#bcbd22", "#00ced1",
)  # fmt: skip
DEFAULT_CMAP = "inferno"
CATEGORY_CMAP = "tab10"


@dataclass(frozen=True)
class CorticalMap:
    """One value per target and how to draw it: what every map kind returns.

    Every drawing function (:func:`~brainenc.maps.plot_surface`,
    :func:`~brainenc.maps.plot_volume`, :func:`~brainenc.maps.view_surface`) takes a map
    wherever it takes values; keyword arguments given to it override the map's style. A new kind
    of map is a function that returns a ``CorticalMap``; no drawing code changes.

    Parameters
    ----------
    values : array of shape (n_targets,)
        One value per target, NaN where a target is to be shown as missing. For a categorical map,
        the index into ``categories`` of each target's category.
    title : str, optional
        Figure title.
    colorbar_label : str, optional
        What the colours mean, with units: the colour bar's label, or the title of a categorical
        map's legend.
    cmap : str or Colormap
        Matplotlib colormap. For a categorical map, category ``i`` gets the colormap's ``i``-th
        colour (a qualitative colormap such as ``"tab10"`` or a :class:`ListedColormap`).
    vmin, vmax : float, optional
        Colour range; default: the range of the finite values. Unused by categorical maps.
    categories : tuple of str, optional
        Category names; they make the map categorical (one colour per category and a legend
        in place of the colour bar).
    """

    values: np.ndarray
    title: str | None = None
    colorbar_label: str | None = None
    cmap: str | Colormap = DEFAULT_CMAP
    vmin: float | None = None
    vmax: float | None = None
    categories: tuple[str, ...] | None = None

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 1:
            raise ValueError(
                f"a map has one value per target (a 1-D array); got shape {values.shape}"
            )
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(self.categories))
            finite = values[np.isfinite(values)]
            bad = finite[(finite != np.round(finite)) | (finite < 0) | (finite >= self.n_colors)]
            if bad.size:
                raise ValueError(
                    f"a categorical map's values must be category indices in [0, "
                    f"{self.n_colors}) or NaN; got {float(bad[0])}. Map each target to the index "
                    f"of its category in {self.categories}"
                )
        object.__setattr__(self, "values", values)

    @property
    def n_colors(self) -> int:
        """Number of categories (0 for a continuous map)."""
        return len(self.categories or ())

    def restyle(self, **style) -> CorticalMap:
        """This map with the style fields given a value other than ``None`` replaced."""
        return dataclasses.replace(self, **{k: v for k, v in style.items() if v is not None})

    def where(self, keep, why: str) -> CorticalMap:
        """This map shown only where ``keep`` holds; other targets are missing (NaN).

        Parameters
        ----------
        keep : bool array of shape (n_targets,)
        why : str
            What ``keep`` means (``"noise ceiling > 0.1"``); appended to the title.

        Returns
        -------
        CorticalMap
        """
        keep = np.asarray(keep)
        if keep.shape != self.values.shape or keep.dtype != bool:
            raise ValueError(
                f"keep must be a boolean mask of shape {self.values.shape}, one entry per target; "
                f"got {keep.dtype} {keep.shape}"
            )
        title = f"{self.title} ({why})" if self.title else why
        return dataclasses.replace(self, values=np.where(keep, self.values, np.nan), title=title)

    def colormap(self) -> Colormap:
        """The colormap to draw with: the map's, cut to one colour per category if categorical."""
        cmap = colormaps[self.cmap] if isinstance(self.cmap, str) else self.cmap
        if self.categories is None:
            return cmap
        if isinstance(cmap, ListedColormap) and cmap.N >= self.n_colors:
            colors = cmap.colors[: self.n_colors]
        else:
            colors = cmap(np.linspace(0, 1, self.n_colors))
        return ListedColormap(colors, name=f"{cmap.name}_{self.n_colors}")

    def colour_range(self) -> tuple[float, float]:
        """``(vmin, vmax)``: the map's, or the finite values' range; one unit per category."""
        if self.categories is not None:
            return -0.5, self.n_colors - 0.5
        finite = self.values[np.isfinite(self.values)]
        data_low, data_high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        low = float(data_low if self.vmin is None else self.vmin)
        high = float(data_high if self.vmax is None else self.vmax)
        if self.vmin is None and self.vmax is None and low == high:  # constant: centre its colour
            low, high = low - 0.5, high + 0.5
        if not low < high:
            raise ValueError(f"the colour range is empty: vmin={low} is not below vmax={high}")
        return low, high


def as_map(values, **style) -> CorticalMap:
    """A :class:`CorticalMap` from a map or an array, with the given style overrides applied.

    Parameters
    ----------
    values : CorticalMap or array of shape (n_targets,)
    **style
        :class:`CorticalMap` fields; ``None`` leaves the map's value.
    """
    cortical_map = values if isinstance(values, CorticalMap) else CorticalMap(values)
    return cortical_map.restyle(**style)
