"""Cortical maps: values over a dataset's targets drawn on the brain, and the HTML report.

Draw with :func:`plot_surface` (fsaverage meshes), :func:`plot_volume` (voxel spaces) or
:func:`view_surface` (interactive HTML); compute what to draw with the kinds in
:mod:`brainenc.maps.kinds`, each returning a :class:`CorticalMap`; :func:`build_report` gathers a
results folder into one HTML page.

The names below are imported on first use, so that the ``brainenc`` command, which registers
``brainenc report`` from this package, starts without loading nilearn's plotting.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "plot_attention": ".attention",
    "upsample_attention": ".attention",
    "ROI_COLORS": ".cortical_map",
    "CorticalMap": ".cortical_map",
    "mesh": ".fsaverage",
    "view_surface": ".interactive",
    "accuracy_map": ".kinds",
    "alpha_map": ".kinds",
    "attention_map": ".kinds",
    "comparison_map": ".kinds",
    "noise_ceiling_map": ".kinds",
    "preference_map": ".kinds",
    "roi_map": ".kinds",
    "build_report": ".report",
    "draw_map": ".run_dir",
    "draw_standard_maps": ".standard",
    "plot_surface": ".surface",
    "plot_volume": ".volume",
    "volume_image": ".volume",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
