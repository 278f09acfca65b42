"""Build the embedding bank that `brainenc caption --bank` projects encoder readouts onto.

The bank holds the backbone's image embeddings of an image set (BrainSCUBA used about 2M LAION
images): a folder of image files, or NSD's 73k stimuli. Features go through the feature cache,
so a killed run resumes and a second bank of the same images reuses them.

    python scripts/build_caption_bank.py --backbone openclip:ViT-B-32/laion2b_s34b_b79k \
        --images path/to/images --out banks/vitb32.h5
    python scripts/build_caption_bank.py --backbone openclip:ViT-B-32/laion2b_s34b_b79k \
        --nsd --out banks/vitb32_nsd.h5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def image_set(args: argparse.Namespace):
    """The images the options name: a folder's image files (sorted) or NSD's stimuli."""
    from brainenc.data.images import FileImages

    if args.nsd:
        from brainenc.data import default_data_dir
        from brainenc.data.images import HDF5Images
        from brainenc.data.manifest import Manifest

        root = Path(args.data_dir or default_data_dir()).expanduser() / "nsd"
        path = Manifest.load("nsd").local_path(root, "stimuli")
        if not path.is_file():
            raise FileNotFoundError(
                f"the NSD stimuli {path} are missing; download them with `brainenc data "
                "download nsd` (about 40 GB)"
            )
        return HDF5Images(path, "imgBrick"), f"NSD stimuli ({path.name})"
    folder = Path(args.images).expanduser()
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return FileImages(paths, size=args.image_size), f"{len(paths)} images under {folder}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", required=True, help="backbone spec of the encoder")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--images", help="folder of image files (searched recursively)")
    where.add_argument("--nsd", action="store_true", help="NSD's 73k stimuli")
    parser.add_argument("--data-dir", default=None, help="folder holding nsd/ (with --nsd)")
    parser.add_argument("--image-size", type=int, default=256, help="images are resized to this")
    parser.add_argument("--out", type=Path, required=True, help="bank file to write (.h5)")
    parser.add_argument("--cache-dir", default="brainenc_cache/features", help="feature cache")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    from brainenc.captions import EmbeddingBank
    from brainenc.features import Backbone

    images, description = image_set(args)
    bank = EmbeddingBank.from_backbone(
        Backbone.from_spec(args.backbone), images, args.cache_dir, dtype=args.dtype,
        meta={"image_set": description}, device=args.device, batch_size=args.batch_size,
    )  # fmt: skip
    bank.save(args.out)
    print(f"{len(bank)} embeddings of width {bank.width} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
