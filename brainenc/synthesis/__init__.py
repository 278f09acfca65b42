"""Using encoders: guided image synthesis (BrainDiVE)."""

from .braindive import (
    PAPER_GUIDANCE,
    ROBUST_GUIDANCE,
    STABLE_DIFFUSION,
    BrainDiVEPipeline,
    Guidance,
    SynthesisOutput,
    prompt_states,
)
from .objectives import ROI, Contrast, Minimize, Objective, Vertex, as_objective

__all__ = [
    "PAPER_GUIDANCE",
    "ROBUST_GUIDANCE",
    "ROI",
    "STABLE_DIFFUSION",
    "BrainDiVEPipeline",
    "Contrast",
    "Guidance",
    "Minimize",
    "Objective",
    "SynthesisOutput",
    "Vertex",
    "as_objective",
    "prompt_states",
]
