"""BrainDiVE guidance on tiny real diffusers components (random weights, CPU, seconds)."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import DPMSolverMultistepScheduler, UNet2DModel

from brainenc.encoders import BrainModel, LinearReadout
from brainenc.features import GaborPyramid
from brainenc.synthesis import (
    ROBUST_GUIDANCE,
    ROI,
    BrainDiVEPipeline,
    Contrast,
    Guidance,
    Vertex,
)
from brainenc.synthesis.braindive import RANK_AUGMENT_SEED, random_shift_flip
from brainenc.synthesis.evaluate import compare_with_unguided

STEPS = 8


@pytest.fixture(scope="module")
def brain_model():
    torch.manual_seed(0)
    backbone = GaborPyramid(input_size=16, n_scales=2, grid=2)
    weight = torch.randn(backbone.embed_dim, 6)
    rois = {"A": np.array([1, 1, 1, 0, 0, 0], bool), "B": np.array([0, 0, 0, 1, 1, 1], bool)}
    readout = LinearReadout(weight, torch.zeros(6), torch.zeros(backbone.embed_dim))
    return BrainModel(backbone, readout, rois=rois)


@pytest.fixture(scope="module")
def latent_pipeline(tiny_diffusion, brain_model):
    unet, vae, scheduler = tiny_diffusion
    return BrainDiVEPipeline(unet, scheduler, brain_model, vae=vae, condition=torch.zeros(1, 1, 16))


def _run(pipe, objective, guidance=200.0, **kw):
    return pipe(objective, n_images=2, seed=3, guidance=guidance, num_inference_steps=STEPS,
                progress=False, **kw)  # fmt: skip


def _shifted_and_plain(pipe, objective, guidance, z, step):
    """The guided noise estimate at one step, and the unguided one."""
    pipe.scheduler.set_timesteps(STEPS)
    t = pipe.scheduler.timesteps[step]
    generators = [torch.Generator().manual_seed(i) for i in range(len(z))]
    alpha = pipe.scheduler.alphas_cumprod[t]
    shifted = pipe._guided_eps(z, t, alpha, objective, guidance, generators, None)
    with torch.no_grad():
        return shifted, pipe._eps(z, t), torch.sqrt(1 - alpha)


def test_guidance_raises_the_roi_activation_over_the_same_seeds(latent_pipeline):
    guided = _run(latent_pipeline, ROI("A"))
    unguided = _run(latent_pipeline, ROI("A"), guidance=None)
    assert guided.images.shape == (2, 3, 16, 16) and 0 <= guided.images.min() <= 1
    assert (guided.scores > unguided.scores).all(), (guided.scores, unguided.scores)
    assert unguided.guidance is None and guided.guidance == Guidance(scale=200.0)


def test_minimizing_lowers_the_activation(latent_pipeline):
    low = _run(latent_pipeline, -ROI("A"))
    unguided = _run(latent_pipeline, ROI("A"), guidance=None)
    assert (-low.scores < unguided.scores).all()


def test_contrast_and_vertex_objectives(latent_pipeline, brain_model):
    contrast = _run(latent_pipeline, Contrast("A", "B"))
    base = _run(latent_pipeline, Contrast("A", "B"), guidance=None)
    assert (contrast.scores > base.scores).all()
    vertex = _run(latent_pipeline, Vertex(4))
    base = _run(latent_pipeline, Vertex(4), guidance=None)
    assert (vertex.scores > base.scores).all()


def test_robust_guidance_raises_the_activation_and_ignores_the_batch_size(latent_pipeline):
    unguided = _run(latent_pipeline, ROI("A"), guidance=None)
    guided = _run(latent_pipeline, ROI("A"), guidance=ROBUST_GUIDANCE)
    assert (guided.scores > unguided.scores).all(), (guided.scores, unguided.scores)
    one_by_one = _run(latent_pipeline, ROI("A"), guidance=ROBUST_GUIDANCE, batch_size=1)
    torch.testing.assert_close(guided.images, one_by_one.images, atol=1e-4, rtol=0)
    contrast = _run(latent_pipeline, Contrast("A", "B"), guidance=ROBUST_GUIDANCE)
    assert (contrast.scores > _run(latent_pipeline, Contrast("A", "B"), guidance=None).scores).all()


def test_normalized_guidance_steps_by_scale_times_the_noise_norm(latent_pipeline):
    z = torch.randn(3, 4, 8, 8)
    guidance = Guidance(scale=0.7, normalize=True)
    shifted, plain, beta = _shifted_and_plain(latent_pipeline, ROI("A"), guidance, z, 3)
    step = (shifted - plain).flatten(1).norm(dim=1)
    expected = 0.7 * beta * plain.flatten(1).norm(dim=1)
    torch.testing.assert_close(step, expected, rtol=1e-4, atol=0)
    raw, _, _ = _shifted_and_plain(latent_pipeline, ROI("A"), Guidance(scale=0.7), z, 3)
    assert not torch.allclose((raw - plain).flatten(1).norm(dim=1), expected, rtol=0.05)


def test_random_shift_flip_moves_images_by_at_most_an_eighth():
    image = torch.zeros(1, 3, 32, 32)
    image[..., 16, 16] = 1.0
    spots, flips = set(), 0
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        moved = random_shift_flip(image, [gen])
        assert moved.shape == image.shape
        y, x = divmod(int(moved[0, 0].argmax()), 32)
        assert abs(y - 16) <= 4 and 16 - 5 <= x <= 16 + 4  # a mirror maps column 16 to 15
        spots.add((y, x))
    assert len(spots) > 10
    image = torch.rand(2, 3, 16, 16, requires_grad=True)
    a = random_shift_flip(image, [torch.Generator().manual_seed(s) for s in (1, 2)])
    b = random_shift_flip(image, [torch.Generator().manual_seed(s) for s in (1, 2)])
    torch.testing.assert_close(a, b)
    a.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    for seed in range(30):  # some draws mirror: the left-right gradient reverses
        g = random_shift_flip(torch.linspace(0, 1, 16).expand(1, 3, 16, 16),
                              [torch.Generator().manual_seed(seed)])  # fmt: skip
        flips += bool(g[0, 0, 8, 2] > g[0, 0, 8, 13])
    assert 5 < flips < 25


def test_guidance_recipes():
    assert Guidance.parse(None) is None and Guidance.parse(0) is None
    assert Guidance.parse(50) == Guidance(scale=50.0, normalize=False, augment=False)
    assert Guidance.named("robust") == ROBUST_GUIDANCE and ROBUST_GUIDANCE.normalize
    assert Guidance.named("paper", 30).scale == 30.0
    with pytest.raises(ValueError, match="unknown guidance 'strong'; choose one of paper, robust"):
        Guidance.named("strong")
    with pytest.raises(ValueError, match="finite"):
        Guidance(scale=float("nan"))
    with pytest.raises(ValueError, match="relative to the predicted noise"):
        Guidance(scale=130.0, normalize=True)


def test_half_precision_components_sample_and_score_in_float32(tiny_diffusion, brain_model):
    """As on CUDA (float16 UNet and VAE, float32 brain model); bfloat16 runs on a CPU."""
    unet, vae, scheduler = (copy.deepcopy(part) for part in tiny_diffusion)
    pipe = BrainDiVEPipeline(unet.to(torch.bfloat16), scheduler, brain_model,
                             vae=vae.to(torch.bfloat16),
                             condition=torch.zeros(1, 1, 16, dtype=torch.bfloat16))  # fmt: skip
    out = _run(pipe, ROI("A"), guidance=ROBUST_GUIDANCE)
    assert out.images.dtype == torch.float32 and np.isfinite(out.scores).all()
    assert out.to_uint8().shape == (2, 16, 16, 3)


def test_the_gradient_reaches_the_latent(latent_pipeline):
    grads = []

    def spy(step, t, z):
        grads.append(float(z.abs().sum()))

    _run(latent_pipeline, ROI("A"), callback=spy)
    z = torch.randn(1, 4, 8, 8)
    shifted, plain, _ = _shifted_and_plain(latent_pipeline, ROI("A"), Guidance(100.0), z, 2)
    assert len(grads) == STEPS
    assert (shifted - plain).abs().sum() > 0


def test_same_seed_gives_the_same_images(latent_pipeline):
    a = _run(latent_pipeline, ROI("A"))
    b = latent_pipeline(ROI("A"), n_images=2, seed=3, guidance=200.0,
                        num_inference_steps=STEPS, batch_size=1, progress=False)  # fmt: skip
    torch.testing.assert_close(a.images, b.images, atol=1e-4, rtol=0)


def test_pixel_space_unet_without_condition(brain_model):
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1,
                       block_out_channels=(16, 32), norm_num_groups=8,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))  # fmt: skip
    pipe = BrainDiVEPipeline(unet, DPMSolverMultistepScheduler(), brain_model)
    out = _run(pipe, ROI("B"))
    assert out.to_uint8().shape == (2, 16, 16, 3) and np.isfinite(out.scores).all()
    z = torch.randn(1, 3, 16, 16) * 0.1  # late in sampling: decoded pixels are not clamped
    shifted, plain, _ = _shifted_and_plain(pipe, ROI("B"), Guidance(100.0), z, -1)
    assert (shifted - plain).abs().sum() > 0


def test_conditional_unet_needs_a_condition(latent_pipeline, brain_model):
    with pytest.raises(ValueError, match="condition"):
        BrainDiVEPipeline(latent_pipeline.unet, latent_pipeline.scheduler, brain_model)
    with pytest.raises(KeyError, match="unknown ROI 'C'"):
        _run(latent_pipeline, ROI("C"))


def test_from_pretrained_loads_a_diffusers_folder_quietly(latent_pipeline, brain_model, tmp_path):
    from brainenc.world.training.prior import save_prior

    folder = save_prior(latent_pipeline.vae, latent_pipeline.unet, {"note": "tiny"}, tmp_path / "p")
    assert sorted(p.name for p in folder.iterdir()) == [
        "model_index.json",
        "record.json",
        "scheduler",
        "unet",
        "vae",
    ]
    notices = logging.Handler(logging.INFO)
    notices.emit = lambda record: pytest.fail(f"diffusers said: {record.getMessage()}")
    diffusers_log = logging.getLogger("diffusers")  # its own handler, not pytest's
    diffusers_log.addHandler(notices)
    try:  # no notice, such as one to install accelerate
        pipe = BrainDiVEPipeline.from_pretrained(
            str(folder), brain_model, condition=torch.zeros(1, 1, 16)
        )
    finally:
        diffusers_log.removeHandler(notices)
    out = _run(pipe, ROI("A"))
    assert out.images.shape == (2, 3, 16, 16) and np.isfinite(out.scores).all()
    with pytest.raises(ValueError, match="condition"):
        BrainDiVEPipeline.from_pretrained(str(folder), brain_model)


def test_from_pretrained_conditions_on_the_empty_prompt(tiny_stable_diffusion, brain_model):
    from transformers import CLIPTextModel, CLIPTokenizer

    pipe = BrainDiVEPipeline.from_pretrained(str(tiny_stable_diffusion), brain_model)
    tokenizer = CLIPTokenizer.from_pretrained(tiny_stable_diffusion / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(tiny_stable_diffusion / "text_encoder")
    ids = tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, 0] == 0 and ids[0, 1] == 1 and (ids[0, 2:] == 2).all()  # start, end, padding
    with torch.no_grad():
        torch.testing.assert_close(pipe.condition, encoder(ids)[0])
    out = _run(pipe, ROI("A"))
    assert pipe.condition.shape == (1, 77, 16) and pipe.condition.dtype == torch.float32
    assert np.isfinite(out.scores).all()


def test_uncached_model_fails_fast_offline(brain_model, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"not in the Hugging Face cache.*hf download"):
        BrainDiVEPipeline.from_pretrained("nobody/no-such-diffusion-model", brain_model)
    assert time.perf_counter() - start < 5


def test_with_condition_is_classifier_free_guidance(tiny_stable_diffusion, brain_model):
    from brainenc.synthesis import prompt_states

    pipe = BrainDiVEPipeline.from_pretrained(str(tiny_stable_diffusion), brain_model)
    caption = prompt_states(str(tiny_stable_diffusion), ["a face"])
    assert caption.shape == (1, 77, 16) and not torch.allclose(caption, pipe.condition)
    plain = pipe.with_condition(caption)
    guided = pipe.with_condition(caption, text_scale=4.0)
    z, t = torch.randn(2, 4, 8, 8), pipe.scheduler.timesteps[0]
    with torch.no_grad():
        empty, cond, mixed = pipe._eps(z, t), plain._eps(z, t), guided._eps(z, t)
    torch.testing.assert_close(mixed, empty + 4.0 * (cond - empty), rtol=1e-4, atol=1e-5)
    assert plain.unet is pipe.unet and pipe.unconditional is None  # the models are shared
    out = guided(ROI("A"), n_images=2, seed=0, guidance=None, num_inference_steps=3,
                 progress=False)  # fmt: skip
    assert out.images.shape == (2, 3, 16, 16) and np.isfinite(out.scores).all()
    with pytest.raises(ValueError, match="text_scale must be at least 1"):
        pipe.with_condition(caption, text_scale=0.5)


def test_top_keeps_the_best_scored_images_best_first(latent_pipeline):
    out = latent_pipeline(ROI("A"), n_images=5, seed=3, guidance=None, num_inference_steps=STEPS,
                          progress=False)  # fmt: skip
    best = out.top(2)
    order = np.argsort(-out.scores)[:2]
    np.testing.assert_array_equal(best.seeds, out.seeds[order])
    np.testing.assert_array_equal(best.scores, out.scores[order])
    torch.testing.assert_close(best.images, out.images[torch.from_numpy(order)])
    assert best.scores[0] >= best.scores[1] >= np.delete(out.scores, order).max()
    with pytest.raises(ValueError, match="cannot keep 6 of 5 images"):
        out.top(6)
    lowest = replace(out, scores=latent_pipeline.score(-ROI("A"), out.images)).top(1)
    assert lowest.seeds[0] == out.seeds[np.argmin(out.scores)]  # minimising keeps the lowest
    unscored = latent_pipeline(None, n_images=2, guidance=None, num_inference_steps=2,
                               progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"no scores.*pipe\.score"):
        unscored.top(1)


def test_oversampled_comparison_keeps_the_best_of_the_same_candidates(latent_pipeline):
    kw = dict(n_images=2, seed=3, guidance=ROBUST_GUIDANCE, num_inference_steps=STEPS,
              progress=False)  # fmt: skip
    summary, images = compare_with_unguided(latent_pipeline, ROI("A"), oversample=3, **kw)
    assert summary["oversample"] == 3 and images["guided"].shape == (2, 16, 16, 3)
    for run in ("guided", "unguided"):
        kept, candidates = summary[run], summary[run]["candidates"]
        assert candidates["seeds"] == list(range(3, 9))  # the same candidates in both runs
        assert kept["predicted"] == sorted(candidates["predicted"], reverse=True)[:2]
        by_seed = dict(zip(candidates["seeds"], candidates["predicted"], strict=True))
        assert [by_seed[s] for s in kept["seeds"]] == kept["predicted"]
    plain, _ = compare_with_unguided(latent_pipeline, ROI("A"), **kw)
    assert "candidates" not in plain["guided"] and plain["guided"]["seeds"] == [3, 4]
    # the best 2 of seeds 3..8 score at least seeds 3 and 4 (up to batch-size round-off)
    assert summary["guided"]["mean_predicted"] >= plain["guided"]["mean_predicted"] - 1e-4
    unguided = latent_pipeline(None, n_images=2, seed=3, guidance=None,
                               num_inference_steps=STEPS, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"seeds 3\.\.4; they must be the guided run.s 3\.\.8"):
        compare_with_unguided(latent_pipeline, ROI("A"), oversample=3, unguided=unguided, **kw)
    with pytest.raises(ValueError, match="oversample must be at least 1"):
        compare_with_unguided(latent_pipeline, ROI("A"), oversample=0, **kw)


def test_a_ranker_keeps_the_candidates_it_scores_highest(latent_pipeline, brain_model):
    """A ranker other than the guide chooses the kept images; they keep the guide's scores."""
    readout = brain_model.readout
    opposite = BrainModel(brain_model.backbone,
                          LinearReadout(-readout.weight, readout.bias, readout.x_mean),
                          rois=brain_model.rois)  # fmt: skip
    kw = dict(n_images=2, seed=3, guidance=ROBUST_GUIDANCE, num_inference_steps=STEPS,
              oversample=3, progress=False)  # fmt: skip
    summary, _ = compare_with_unguided(latent_pipeline, ROI("A"), ranker=opposite, **kw)
    for run in ("guided", "unguided"):
        kept, candidates = summary[run], summary[run]["candidates"]
        np.testing.assert_allclose(candidates["ranked"], -np.array(candidates["predicted"]),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
        # the guide's lowest two of the six candidates, best by the ranker first
        assert kept["predicted"] == sorted(candidates["predicted"])[:2]
        np.testing.assert_allclose(kept["ranked"], -np.array(kept["predicted"]), atol=1e-5)
    with pytest.raises(ValueError, match="give oversample > 1 with it"):
        compare_with_unguided(latent_pipeline, ROI("A"), ranker=opposite,
                              **{**kw, "oversample": 1})  # fmt: skip
    out = latent_pipeline(ROI("A"), n_images=3, seed=3, guidance=None, num_inference_steps=2,
                          progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"by holds \(2,\) scores for 3 images"):
        out.top(1, by=np.zeros(2))
    with pytest.raises(ValueError, match="by holds NaN scores"):
        out.top(1, by=np.array([np.nan, 0.0, 1.0]))
    assert out.top(1, by=np.array([0.0, 2.0, 1.0])).seeds.tolist() == [out.seeds[1]]


def test_an_augmented_score_is_the_mean_over_each_images_own_shifted_copies(latent_pipeline):
    out = latent_pipeline(None, n_images=3, seed=3, guidance=None, num_inference_steps=2,
                          progress=False)  # fmt: skip
    score = latent_pipeline.score
    augmented = score(ROI("A"), out.images, augment=4, seeds=out.seeds)
    assert np.abs(augmented - score(ROI("A"), out.images)).max() > 1e-3  # the copies differ
    # image i's copies come from its own stream: the batch's order does not change them
    order = [2, 0, 1]
    np.testing.assert_allclose(
        score(ROI("A"), out.images[order], augment=4, seeds=out.seeds[order]), augmented[order],
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    # K successive draws of each image's own stream, batch by batch
    generators = [torch.Generator().manual_seed(RANK_AUGMENT_SEED + int(s)) for s in out.seeds]
    copies = [score(ROI("A"), random_shift_flip(out.images, generators)) for _ in range(4)]
    np.testing.assert_allclose(augmented, np.mean(copies, axis=0), rtol=1e-5, atol=1e-6)
    assert np.abs(copies[0] - copies[1]).max() > 1e-3  # each copy is drawn afresh
    np.testing.assert_allclose(
        score(ROI("A"), out.images, augment=4, seeds=out.seeds, batch_size=2), augmented,
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"pass seeds=, one per image .* got no seeds for 3"):
        score(ROI("A"), out.images, augment=2)
    with pytest.raises(ValueError, match="got 2 seeds for 3 images"):
        score(ROI("A"), out.images, augment=2, seeds=out.seeds[:2])
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="augment must be 0 or more copies"):
            score(ROI("A"), out.images, augment=bad, seeds=out.seeds)


def test_rank_augment_keeps_the_best_augmented_candidates_beside_the_guides_pick(latent_pipeline):
    kw = dict(n_images=2, seed=3, guidance=ROBUST_GUIDANCE, num_inference_steps=STEPS,
              oversample=3, progress=False)  # fmt: skip
    summary, images = compare_with_unguided(latent_pipeline, ROI("A"), rank_augment=4, **kw)
    assert summary["ranked_by"] == "the guiding encoder over 4 shifted, mirrored copies"
    for run in ("guided", "unguided"):
        kept, candidates = summary[run], summary[run]["candidates"]
        kept_images = torch.from_numpy(images[run]).permute(0, 3, 1, 2).float() / 255
        np.testing.assert_allclose(  # the augmented scores of the kept images (uint8 round-off)
            kept["ranked"], latent_pipeline.score(ROI("A"), kept_images, augment=4,
                                                  seeds=kept["seeds"]), atol=0.05,
        )  # fmt: skip
        assert not np.allclose(candidates["ranked"], candidates["predicted"], atol=1e-3)
        best = np.argsort(-np.array(candidates["ranked"]))[:2]
        assert kept["seeds"] == [candidates["seeds"][i] for i in best]
        assert kept["ranked"] == [candidates["ranked"][i] for i in best]
        assert summary[run]["by_guide"]["predicted"] == sorted(candidates["predicted"],
                                                               reverse=True)[:2]  # fmt: skip
    plain, _ = compare_with_unguided(latent_pipeline, ROI("A"), **kw)
    assert plain["ranked_by"] is None and "by_guide" not in plain["guided"]
    both, _ = compare_with_unguided(latent_pipeline, ROI("A"), rank_augment=4,
                                    ranker=latent_pipeline.brain_model, **kw)  # fmt: skip
    assert both["ranked_by"] == "the ranking encoder over 4 shifted, mirrored copies"
    np.testing.assert_allclose(both["guided"]["candidates"]["ranked"],
                               summary["guided"]["candidates"]["ranked"], rtol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="give oversample > 1 with it"):
        compare_with_unguided(latent_pipeline, ROI("A"), rank_augment=4, **{**kw, "oversample": 1})
    with pytest.raises(ValueError, match="rank_augment must be 0 or more copies; got -1"):
        compare_with_unguided(latent_pipeline, ROI("A"), rank_augment=-1, **kw)
