"""The in-silico world: procedural stimuli and simulated subjects with known ground truth."""

from .dataset import load_world
from .oracle import CategoryOracle, load_oracle, train_oracle
from .stimuli import CATEGORIES, Stimuli, caption, generate_stimuli
from .subjects import ROI_NAMES, WorldSubject

__all__ = [
    "CATEGORIES",
    "ROI_NAMES",
    "CategoryOracle",
    "Stimuli",
    "WorldSubject",
    "caption",
    "generate_stimuli",
    "load_oracle",
    "load_world",
    "train_oracle",
]
