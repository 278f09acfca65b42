"""The in-silico world: procedural stimuli, simulated subjects with known ground truth, the
off-manifold probes that truth must resist, an independent judge of images, and the world's own
models (world-clip, the diffusion prior, the captioner) with the helpers that run BrainDiVE and
BrainSCUBA on it.

The names below are imported on first use, so that importing one part of the world (the
stimuli, say) loads neither open_clip nor diffusers.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "WORLD_MODELS": "build",
    "build_world": "build",
    "BatteryResult": "battery",
    "CAPTIONER_DIR": "captioner",
    "WORLD_NOUNS": "captioner",
    "load_world_captioner": "captioner",
    "run_battery": "battery",
    "SPEC": "clip",
    "WordTokenizer": "clip",
    "load_world_clip": "clip",
    "load_world": "dataset",
    "JUDGE_CLASSES": "judge",
    "WorldJudge": "judge",
    "load_judge": "judge",
    "CategoryOracle": "oracle",
    "load_oracle": "oracle",
    "PRIOR_DIR": "prior",
    "load_prior": "prior",
    "PROBE_KINDS": "probes",
    "off_manifold_images": "probes",
    "CATEGORIES": "stimuli",
    "Stimuli": "stimuli",
    "caption": "stimuli",
    "generate_stimuli": "stimuli",
    "ROI_NAMES": "subjects",
    "WorldSubject": "subjects",
    "synthesize_world": "synthesis",
    "WorldBench": "synthesis",
    "true_brain": "synthesis",
    "world_brain_model": "synthesis",
    "world_guidance": "synthesis",
    "world_judges": "synthesis",
    "world_pipeline": "synthesis",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _EXPORTS.items()})
