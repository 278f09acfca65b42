"""The in-silico world: procedural stimuli, simulated subjects with known ground truth, the
off-manifold probes that truth must resist, and an independent judge of images."""

from .dataset import load_world
from .judge import JUDGE_CLASSES, WorldJudge, load_judge, train_judge
from .oracle import CategoryOracle, load_oracle, train_oracle
from .probes import PROBE_KINDS, off_manifold_images
from .stimuli import CATEGORIES, Stimuli, caption, generate_stimuli
from .subjects import ROI_NAMES, WorldSubject

__all__ = [
    "CATEGORIES",
    "JUDGE_CLASSES",
    "PROBE_KINDS",
    "ROI_NAMES",
    "CategoryOracle",
    "Stimuli",
    "WorldJudge",
    "WorldSubject",
    "caption",
    "generate_stimuli",
    "load_judge",
    "load_oracle",
    "load_world",
    "off_manifold_images",
    "train_judge",
    "train_oracle",
]
