"""One GPU run, one table: feature extraction, the ridge fit and guided synthesis on CUDA.

- extraction: OpenCLIP ViT-B/16 (random weights, the architecture is what costs) over NSD-size
  images (425 px) with :func:`brainenc.features.extract_features` (fp16 autocast), images/s;
- ridge: :class:`brainenc.encoders.LinearEncoder` on CUDA (GCV, 11 alphas), 5,000 images x 512
  features -> 327,684 targets (a full fsaverage subject), against the bare ``X.T @ Y`` on the GPU;
- synthesis: :class:`brainenc.synthesis.BrainDiVEPipeline` with the Stable Diffusion 2.1-base
  architecture (UNet, VAE and scheduler built from its configuration, random weights, fp16),
  512 px, 50 DPM-Solver++ steps, guided by a ViT-B/16 brain model: seconds per image.

    python benchmarks/gpu.py                       # under 8 minutes on one recent GPU

Flags shrink every part (``--device cpu --images 16 --targets 2000 --fit-images 500 --steps 1
--size 64 --synth-images 1`` checks the script on a CPU in a few minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

SD21_BASE_UNET = {  # stabilityai/stable-diffusion-2-1-base unet/config.json
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
}
SD21_BASE_VAE = {  # vae/config.json
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
SD21_BASE_SCHEDULER = {  # scheduler/scheduler_config.json
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
}
SOURCE_SIZE = 425  # px, NSD's stimuli
ALPHAS = np.logspace(-2, 8, 11)


def timed(run, device: torch.device):
    """(seconds, result) of ``run()``, waiting for the GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def vit_b16(device: torch.device):
    """An OpenCLIP ViT-B/16 backbone with random weights."""
    import open_clip

    from brainenc.features import OpenCLIPBackbone

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16")
    return OpenCLIPBackbone(model.to(device).eval(), spec="open_clip:ViT-B-16")


def extraction(args, device) -> list[tuple[str, str]]:
    from brainenc.features import extract_features

    backbone = vit_b16(device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, SOURCE_SIZE, SOURCE_SIZE, 3), dtype=np.uint8)
    run = lambda: extract_features(  # noqa: E731
        backbone, images, batch_size=args.batch_size, device=device, progress=False
    )
    run()  # warm-up (kernels, autotuning)
    seconds, _ = timed(run, device)
    precision = "fp16 autocast" if device.type == "cuda" else "fp32"
    return [(f"ViT-B/16 extraction ({precision})", f"{args.images / seconds:,.1f} img/s")]


def ridge(args, device) -> list[tuple[str, str]]:
    from brainenc.encoders import LinearEncoder

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.fit_images, 512), dtype=np.float32)
    y = rng.standard_normal((args.fit_images, args.targets), dtype=np.float32)
    y += x @ rng.standard_normal((512, args.targets), dtype=np.float32) / 20
    encoder = LinearEncoder(alphas=ALPHAS, device=device.type, n_targets_batch=args.ridge_block)
    encoder.fit(x[:, :8], y[:, :8])  # warm-up
    fit_s, _ = timed(lambda: encoder.fit(x, y), device)
    xt = torch.from_numpy(x).to(device)
    yt = torch.from_numpy(y).to(device)
    gemm_s, _ = timed(lambda: xt.T @ yt, device)
    size = f"{args.fit_images} x 512 -> {args.targets} targets"
    return [
        (f"ridge fit, {size} (host data)", f"{fit_s:.2f} s"),
        ("bare X.T @ Y, data on the device", f"{gemm_s:.3f} s ({fit_s / gemm_s:.0f}x)"),
    ]


def synthesis(args, device) -> list[tuple[str, str]]:
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel

    from brainenc.encoders import BrainModel, LinearReadout
    from brainenc.synthesis import ROI, BrainDiVEPipeline

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD21_BASE_UNET).to(device, dtype)
    vae = AutoencoderKL(**SD21_BASE_VAE).to(device, dtype)
    scheduler = DPMSolverMultistepScheduler(**SD21_BASE_SCHEDULER)
    backbone = vit_b16(device)
    n_targets = 1000
    readout = LinearReadout(
        np.random.default_rng(0).standard_normal((512, n_targets)) / 512**0.5,
        np.zeros(n_targets),
        np.zeros(512),
    )
    rois = {"roi": np.arange(n_targets) < 100}
    brain_model = BrainModel(backbone, readout, rois=rois).to(device)
    condition = torch.zeros(1, 77, 1024, device=device, dtype=dtype)  # the empty prompt's shape
    pipe = BrainDiVEPipeline(unet, scheduler, brain_model, vae=vae, condition=condition)
    run = lambda: pipe(  # noqa: E731
        ROI("roi"), n_images=args.synth_images, num_inference_steps=args.steps,
        height=args.size, width=args.size, batch_size=args.synth_images, progress=False,
    )  # fmt: skip
    seconds, _ = timed(run, device)
    return [
        (
            f"SD 2.1-base guided synthesis, {args.size} px, {args.steps} steps",
            f"{seconds / args.synth_images:.2f} s/image",
        )
    ]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--images", type=int, default=4096, help="images to extract")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--fit-images", type=int, default=5000)
    p.add_argument("--targets", type=int, default=327684)
    p.add_argument("--ridge-block", type=int, default=65536, help="targets per block")
    p.add_argument("--synth-images", type=int, default=4)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--size", type=int, default=512)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --device cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows = []
    start = time.perf_counter()
    for part in (extraction, ridge, synthesis):
        rows += part(args, device)
        print(f"{part.__name__} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\n{name}, torch {torch.__version__}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
