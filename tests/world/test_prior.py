"""The world's diffusion prior: its training code, and what the shipped checkpoint samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainenc.data.images import to_tensor
from brainenc.features import Backbone
from brainenc.synthesis.evaluate import zero_shot
from brainenc.world import CATEGORIES, WorldSubject, generate_stimuli
from brainenc.world.prior import PRIOR_DIR, load_prior
from brainenc.world.synthesis import true_brain, world_pipeline
from brainenc.world.training.prior import AdversarialLoss, save_prior, train_unet, train_vae

shipped = pytest.mark.skipif(
    not (PRIOR_DIR / "unet").is_dir(),
    reason="world diffusion prior not built (`brainenc world build --only world-prior`)",
)


@pytest.fixture(scope="module")
def clip():
    return Backbone.from_spec("world-clip")


@pytest.fixture(scope="module")
def truth():
    return true_brain(WorldSubject(1))


def test_training_runs_end_to_end_and_saves_a_loadable_prior(clip, truth, tmp_path):
    wider_vae = {"block_out_channels": (16, 32, 48)}  # an autoencoder of another size too
    vae, vae_record = train_vae(
        steps=6, batch_size=4, n_images=16, config=wider_vae, progress=False
    )
    assert vae.config.scaling_factor != pytest.approx(0.18215)  # set from the latents' spread
    assert np.isfinite(vae_record["heldout_mse"]) and vae_record["steps"] == 6
    assert tuple(vae.config.block_out_channels) == (16, 32, 48)
    checkpoints = []
    wider = {"block_out_channels": (32, 64, 96)}  # a denoiser of another size than the shipped
    unet, unet_record = train_unet(
        vae, lambda texts: clip.embed_text(list(texts)), steps=6, batch_size=4, n_images=16,
        config=wider, progress=False,
        callback=lambda step, net: checkpoints.append((step, net.training)), callback_every=3,
    )  # fmt: skip
    assert checkpoints == [(3, False)] and not unet.training
    assert tuple(unet.config.block_out_channels) == (32, 64, 96)
    folder = save_prior(vae, unet, {"vae": vae_record, "unet": unet_record}, tmp_path / "prior")
    records = json.loads((folder / "record.json").read_text())
    record = records["unet"]
    assert record["steps"] == 6 and record["device"] == "cpu"
    assert record["config"] == {"block_out_channels": [32, 64, 96]}
    assert records["vae"]["config"] == {"block_out_channels": [16, 32, 48]}
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["text_encoder"] == [None] * 2
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["steps_offset"] == 0 and scheduler["clip_sample"]  # as trained, untouched
    pipe = world_pipeline(truth, folder)
    out = pipe("FFA", n_images=1, num_inference_steps=2, guidance=None, progress=False)
    assert out.images.shape == (1, 3, 64, 64) and np.isfinite(out.scores).all()

    # training a given denoiser on keeps its architecture and leaves the given one untouched
    before = [p.clone() for p in unet.parameters()]
    more, more_record = train_unet(vae, lambda texts: clip.embed_text(list(texts)), steps=3,
                                   batch_size=4, n_images=16, seed=1, unet=unet,
                                   progress=False)  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(before, unet.parameters(), strict=True))
    assert tuple(more.config.block_out_channels) == (32, 64, 96) and not more.training
    assert any(not torch.equal(a, b)
               for a, b in zip(more.parameters(), unet.parameters(), strict=True))  # fmt: skip
    assert more_record["continued"] and more_record["config"] == record["config"]
    with pytest.raises(ValueError, match="give it or unet=, not both"):
        train_unet(vae, clip.embed_text, config=wider, unet=unet)


def test_the_adversarial_critic_learns_to_tell_images_from_blurred_ones():
    torch.manual_seed(0)
    real = to_tensor(generate_stimuli(8, 91_000).images[:]) * 2 - 1
    blurred = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(real, 4),
                                              scale_factor=4, mode="bilinear")  # fmt: skip
    adversary = AdversarialLoss(0.1)
    before = adversary.loss(blurred).item()
    for _ in range(30):
        adversary.update(real, blurred)
    with torch.no_grad():
        margin = adversary.critic(real).mean() - adversary.critic(blurred).mean()
        assert margin > 0.5
        assert adversary.loss(blurred).item() > before  # the decoder's term now punishes blur


def test_an_adversarially_sharpened_autoencoder_records_its_weight():
    plain, _ = train_vae(steps=4, batch_size=4, n_images=16, progress=False)
    sharp, record = train_vae(steps=4, batch_size=4, n_images=16, adversarial=0.05,
                              progress=False)  # fmt: skip
    assert record["adversarial"] == 0.05 and np.isfinite(record["heldout_mse"])
    pairs = zip(plain.decoder.parameters(), sharp.decoder.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)  # its second half trained otherwise


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no GPU")
def test_training_on_a_missing_gpu_says_so_before_any_work(clip):
    with pytest.raises(RuntimeError, match="no CUDA device"):
        train_unet(None, clip.embed_text, device="cuda")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        train_vae(device="cuda")


@shipped
def test_shipped_prior_samples_world_images_and_follows_captions(clip, truth):
    pipe = world_pipeline(truth)
    unguided = pipe(None, n_images=8, num_inference_steps=25, progress=False)
    _, probs = zero_shot(unguided.images, clip, list(CATEGORIES))
    assert probs.max(1).mean() > 0.8, probs.max(1)  # confidently one of the world's categories
    with torch.no_grad():
        pipe.condition = clip.embed_text(["a plate of pizza on a white table"])[:, None]
    captioned = pipe(None, n_images=8, num_inference_steps=25, progress=False)
    labels, _ = zero_shot(captioned.images, clip, list(CATEGORIES))
    assert np.mean(labels == CATEGORIES.index("food")) >= 0.75, labels


@shipped
def test_shipped_prior_loads_offline_as_a_diffusers_pipeline(clip, truth):
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(
        PRIOR_DIR, text_encoder=None, tokenizer=None, local_files_only=True
    )
    assert isinstance(pipe, StableDiffusionPipeline) and pipe.unet.config.cross_attention_dim == 128
    ours = world_pipeline(truth)
    for name in ("unet", "vae"):  # the very tensors BrainDiVE samples with
        theirs = getattr(pipe, name).state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in getattr(ours, name).state_dict().items())
    with torch.no_grad():
        text = clip.embed_text(["a photo of a face"])[:, None]
    out = load_prior()(prompt_embeds=text, negative_prompt_embeds=clip.embed_text([""])[:, None],
                       height=64, width=64, num_inference_steps=2, output_type="np",
                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out.images.shape == (1, 64, 64, 3) and np.isfinite(out.images).all()


def test_missing_prior_says_how_to_build_it(truth, tmp_path, monkeypatch):
    """A missing shipped prior names the build command; another folder names the layout."""
    nowhere = tmp_path / "nowhere"
    for make in (lambda: world_pipeline(truth, nowhere), lambda: load_prior(nowhere)):
        with pytest.raises(FileNotFoundError, match="not a diffusion prior folder"):
            make()
    monkeypatch.setattr("brainenc.world.prior.PRIOR_DIR", nowhere)
    for make in (lambda: world_pipeline(truth, nowhere), lambda: load_prior(nowhere)):
        with pytest.raises(FileNotFoundError, match="brainenc world build --only world-prior"):
            make()


def test_training_the_denoiser_on_refuses_bad_folders_and_its_own_stream(
    benchmark_module, tmp_path, capsys
):
    pd = benchmark_module("prior_denoiser")
    out = ["--out", str(tmp_path / "r.json")]
    for argv, message in (
        (["--save", str(tmp_path / "new"), "--seed", "0"], "--seed 0 is the stream"),
        (["--prior", str(tmp_path), "--save", str(tmp_path / "new")], "no model_index.json"),
        (["--prior", str(PRIOR_DIR), "--save", str(PRIOR_DIR)], "another folder than --prior"),
    ):
        with pytest.raises(SystemExit):
            pd.main(argv + out)
        assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and not (tmp_path / "r.json").exists()
