"""Using encoders: guided image synthesis (BrainDiVE)."""

from .braindive import BrainDiVEPipeline, SynthesisOutput
from .objectives import ROI, Contrast, Minimize, Objective, Vertex, as_objective

__all__ = [
    "ROI",
    "BrainDiVEPipeline",
    "Contrast",
    "Minimize",
    "Objective",
    "SynthesisOutput",
    "Vertex",
    "as_objective",
]
