"""Cortical maps: values over a dataset's targets drawn on the brain."""

from .fsaverage import mesh
from .surface import plot_surface

__all__ = ["mesh", "plot_surface"]
