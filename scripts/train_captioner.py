"""Train a captioner (prefix MLP + GPT-2) on image–caption pairs, for `brainenc caption`.

The captioner reads the image embeddings of the backbone whose encoders it will caption, so
train one per backbone. Pairs come from a COCO-style annotation file (``{"images": [{"id",
"file_name"}], "annotations": [{"image_id", "caption"}]}``; every caption of an image is a pair)
or a folder with ``captions.json`` (``{"file name": "caption" or [captions]}``) beside the
images. The language model is a causal LM from the Hugging Face cache or a folder (downloads
only with --download).

    python scripts/train_captioner.py --backbone openclip:ViT-B-32/laion2b_s34b_b79k \
        --coco annotations/captions_train2017.json --images train2017 --out captioners/vitb32
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_pairs(args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    """Image paths and captions, one pair per caption."""
    folder = Path(args.images).expanduser()
    if args.coco:
        coco = json.loads(Path(args.coco).read_text())
        files = {im["id"]: folder / im["file_name"] for im in coco["images"]}
        pairs = [(files[a["image_id"]], a["caption"].strip()) for a in coco["annotations"]]
    else:
        table = json.loads((folder / "captions.json").read_text())
        pairs = [(folder / name, c.strip()) for name, caps in table.items()
                 for c in ([caps] if isinstance(caps, str) else caps)]  # fmt: skip
    if not pairs:
        raise ValueError("no image-caption pairs found")
    paths, captions = zip(*pairs, strict=True)
    return list(paths), list(captions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", required=True, help="backbone spec of the encoders")
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--coco", default=None, help="COCO-style caption annotation file")
    parser.add_argument("--lm", default="gpt2", help="causal LM: Hugging Face repo id or folder")
    parser.add_argument("--download", action="store_true", help="download --lm if not cached")
    parser.add_argument("--out", type=Path, required=True, help="captioner folder to write")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--cache-dir", default="brainenc_cache/features", help="feature cache")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from brainenc.captions import Captioner, language_model, train_captioner
    from brainenc.data.images import FileImages
    from brainenc.features import Backbone, cached_features

    paths, captions = read_pairs(args)
    unique = sorted(set(paths))
    row = {p: i for i, p in enumerate(unique)}
    backbone = Backbone.from_spec(args.backbone)
    features = cached_features(backbone, FileImages(unique, size=args.image_size), args.cache_dir,
                               device=args.device)  # fmt: skip
    embeddings = features[[row[p] for p in paths]]
    lm, tokenizer = language_model(args.lm, download=args.download)
    captioner = Captioner(
        lm, tokenizer, embeddings.shape[1], metadata={"backbone": args.backbone, "lm": args.lm}
    ).to(args.device)
    record = train_captioner(captioner, embeddings, captions, steps=args.steps,
                             batch_size=args.batch_size, lr=args.lr, seed=args.seed)  # fmt: skip
    captioner.metadata["training"] = {**record, "n_pairs": len(captions)}
    captioner.save(args.out)
    print(f"captioner trained on {len(captions)} pairs (loss {record['loss']:.3f}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
