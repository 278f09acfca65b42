"""Attention routing against linear readouts on the world, and where the routing looks.

One subject, one backbone (world-vit by default), two stimulus sets: single-object world images and
composites (two or three objects at recorded positions; ``brainenc.world.stimuli``). On each,
three encoders are fitted on the same training images:

- ``routing``: ``RoutingEncoder()`` on the token grid (defaults: 32 functional-cluster queries);
- ``linear-pooled``: ``LinearEncoder()`` on the pooled embedding;
- ``linear-tokens``: ``LinearEncoder()`` on the flattened token grid;

scored on the test images as the median over each ROI's reliable vertices (estimated noise
ceiling > 0.1) of the noise-normalised r² and of the true r² (from the noiseless responses).

Where the routing looks:

- on composites: for each category region, the share of its attention (the mean of its
  vertices' maps: each vertex's query's heads weighted by how much its prediction rests on
  them; beside it, every head weighted equally) that falls inside the box of the object of
  its category, over the test composites that hold one, against the box's share of
  the image (chance), with a 95% t interval over images; beside it, how much the region's true
  response rests on that object: occluding each object in turn (its box painted in the
  background colour), the share of the summed absolute change of the region's noiseless
  response that its category's object causes;
- with ``--seeds``, the same for routing encoders refitted on the composites with further
  seeds, and each region's share over all seeds (its spread from the seed alone);
- on single images: the correlation, over reliable early-area vertices (V1-hV4), between the
  centre of each vertex's mean attention and its true pRF centre.

    python benchmarks/routing_world.py [--backbone world-vit] [--routing routing]
                                       [--subject 1] [--n-train 2000] [--n-test 300]
                                       [--seeds 1 2]  # routing refitted on composites
                                       [--out benchmarks/results/routing_world_<backbone>.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from sklearn.base import clone

from brainenc.encoders import Encoder, LinearEncoder, RoutingEncoder
from brainenc.features import Backbone, extract_features
from brainenc.features.backbone import token_grid_side
from brainenc.study import MIN_CEILING, evaluate
from brainenc.world import WorldSubject, load_world
from brainenc.world.stimuli import CATEGORIES, COMPOSITE_SIZE
from brainenc.world.vit import TOKEN_CLASSES, patch_labels

BACKBONE = "world-vit"
PREFERRED = {"FFA": "face", "EBA": "body", "PPA": "place", "VWFA": "word", "food": "food"}
EARLY = ("V1", "V2", "V3", "hV4")


def fit_and_score(data, tokens, pooled, routing: str,
                  progress: bool) -> tuple[dict, RoutingEncoder]:  # fmt: skip
    """The three encoders' per-ROI median scores, and the fitted routing encoder."""
    inputs = {
        "routing": (Encoder.from_spec(routing), tokens),
        "linear-pooled": (LinearEncoder(), pooled),
        "linear-tokens": (LinearEncoder(), tokens.reshape(len(tokens), -1)),
    }
    train_y = data.rows(data.train)
    table, seconds = {}, {}
    for name, (encoder, x) in inputs.items():
        start = time.perf_counter()
        encoder.fit(
            x[data.train], train_y, **encoder.fit_options(rois=data.rois, progress=progress)
        )
        seconds[name] = round(time.perf_counter() - start, 1)
        scores = evaluate(data, encoder.predict(x[data.test]))
        table[name] = {
            score: {roi: float(np.nanmedian(values[mask])) for roi, mask in data.rois.items()}
            for score, values in scores.items() if score in ("nnr2", "true_r2")
        }  # fmt: skip
        if name == "routing":
            routing = encoder
        print(name, seconds[name], "s:", " ".join(
            f"{roi} {v:.3f}" for roi, v in table[name]["nnr2"].items()), flush=True)  # fmt: skip
    return {"scores": table, "fit_seconds": seconds}, routing


def attention_in_boxes(data, tokens, routing: RoutingEncoder) -> dict:
    """Per category region: the mean share of its attention inside its category's box."""
    test = data.test
    boxes, labels = data.truth["boxes"][test], data.truth["box_labels"][test]
    reliable = data.noise_ceiling > MIN_CEILING
    side = token_grid_side(tokens.shape[1])
    reliance = truth_reliance(data)
    out = {}
    for roi, category in PREFERRED.items():
        c = CATEGORIES.index(category)
        rows = np.flatnonzero((labels == c).any(1))
        targets = data.rois[roi] & reliable
        attention = routing.attention(tokens[test][rows], targets)
        box = boxes[rows][labels[rows] == c]  # one box per image
        under = patch_labels(boxes[rows], labels[rows], COMPOSITE_SIZE, side)
        inside = under == TOKEN_CLASSES.index(category)
        share = (attention * inside).sum(1)
        per_head, equal = head_maps(routing, tokens[test][rows], targets)
        equal = (equal * inside).sum(1)
        share_of_query = np.bincount(routing.query_[targets], minlength=per_head.shape[2])
        main = share_of_query.argmax()  # the query serving most of the region's vertices
        importance = routing.head_importance_[targets & (routing.query_ == main)]
        head_share = (importance / importance.sum(1, keepdims=True)).mean(0)
        head_in_box = (per_head[:, :, main] * inside[:, None]).sum(-1).mean(0)
        chance = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) / COMPOSITE_SIZE**2
        low, high = stats.t.interval(0.95, len(share) - 1, share.mean(), stats.sem(share))
        truth = float(reliance[roi].mean())
        out[roi] = {"category": category, "n_images": len(rows), "attention_in_box":
                    float(share.mean()), "ci95": [float(low), float(high)],
                    "attention_in_box_equal_heads": float(equal.mean()),
                    "main_query": {"share_of_vertices": float(share_of_query[main] / targets.sum()),
                                   "head_share_of_prediction": head_share.round(3).tolist(),
                                   "head_attention_in_box": head_in_box.round(3).tolist()},
                    "chance": float(chance.mean()), "truth_reliance": truth}  # fmt: skip
        print(
            f"{roi}: {share.mean():.2f} [{low:.2f}, {high:.2f}] of attention in the {category} "
            f"box (heads weighted equally: {equal.mean():.2f}; chance {chance.mean():.2f}, "
            f"{len(rows)} images; the true response rests "
            f"{truth:.2f} on it); its main query's heads carry "
            f"{', '.join(f'{x:.2f}' for x in head_share)} of its prediction and put "
            f"{', '.join(f'{x:.2f}' for x in head_in_box)} of their attention in the box",
            flush=True,
        )
    return out


def attention_over_seeds(data, tokens, routing: RoutingEncoder, first: dict, seeds,
                         progress: bool) -> dict:  # fmt: skip
    """The in-box shares of ``routing`` (``first``: its :func:`attention_in_boxes`) and of
    routing encoders that differ from it only in their seed (initialisation, clustering,
    validation split and batch order): per ROI, each seed's share and their mean."""
    seeds = [routing.seed, *seeds]
    shares = {roi: [result["attention_in_box"]] for roi, result in first.items()}
    for seed in seeds[1:]:
        encoder = clone(routing).set_params(seed=seed)
        encoder.fit(tokens[data.train], data.rows(data.train),
                    **encoder.fit_options(rois=data.rois, progress=progress))  # fmt: skip
        print(f"-- routing seed {seed}", flush=True)
        for roi, result in attention_in_boxes(data, tokens, encoder).items():
            shares[roi].append(result["attention_in_box"])
    out = {roi: {"seeds": seeds, "attention_in_box": values, "mean": float(np.mean(values))}
           for roi, values in shares.items()}  # fmt: skip
    print("over seeds " + ", ".join(map(str, seeds)) + ": " + "  ".join(
        f"{roi} {v['mean']:.2f} ({min(v['attention_in_box']):.2f}-{max(v['attention_in_box']):.2f})"
        for roi, v in out.items()), flush=True)  # fmt: skip
    return out


def head_maps(routing: RoutingEncoder, tokens, targets) -> tuple[np.ndarray, np.ndarray]:
    """Every head's attention (n, heads, n_queries, n_tokens), and the targets' attention with
    every head weighted equally (n, n_tokens), for comparison with the importance-weighted
    :meth:`RoutingEncoder.attention`."""
    net, x = routing.to_module(), torch.as_tensor(tokens)
    with torch.no_grad():
        _, per_head = net.route(x)
        net.head_importance.fill_(1.0)
        return per_head.numpy(), net.attention(x, targets).numpy()


def truth_reliance(data) -> dict[str, np.ndarray]:
    """Per category region, over the test composites holding its category: the share of the
    summed absolute change of its mean noiseless response, as each object is occluded in turn
    (painted in the median colour of the pixels no object covers), that occluding its
    category's object causes."""
    subject = WorldSubject(data.meta["subject"])
    images = data.images[data.test]
    boxes, labels = data.truth["boxes"][data.test], data.truth["box_labels"][data.test]
    reliable = data.noise_ceiling > MIN_CEILING
    base = subject.respond(images)
    inside = np.zeros((*labels.shape, *images.shape[1:3]), bool)  # (n, objects, H, W)
    for i, k in zip(*np.nonzero(labels >= 0), strict=True):
        x0, y0, x1, y1 = boxes[i, k].astype(int)
        inside[i, k, y0:y1, x0:x1] = True
    background = np.stack(
        [np.median(image[~mask], 0) for image, mask in zip(images, inside.any(1), strict=True)]
    )
    change = np.zeros((len(images), labels.shape[1], base.shape[1]), np.float32)
    for k in range(labels.shape[1]):
        occluded = np.where(inside[:, k, :, :, None], background[:, None, None], images)
        delta = np.abs(subject.respond(occluded.astype(np.uint8)) - base)
        change[:, k] = np.where(labels[:, k, None] >= 0, delta, 0)
    out = {}
    for roi, category in PREFERRED.items():
        c = CATEGORIES.index(category)
        per_object = change[:, :, data.rois[roi] & reliable].mean(-1)
        rows = np.flatnonzero((labels == c).any(1))
        out[roi] = (per_object[rows] * (labels[rows] == c)).sum(1) / per_object[rows].sum(1)
    return out


def early_retinotopy(data, routing: RoutingEncoder) -> dict:
    """Correlation of early vertices' attention centres with their true pRF centres."""
    from brainenc.maps.kinds import attention_map

    reliable = data.noise_ceiling > MIN_CEILING
    early = np.logical_or.reduce([data.rois[r] for r in EARLY]) & reliable
    x = attention_map(routing.mean_attention_, routing.query_, "x").values[early]
    y = attention_map(routing.mean_attention_, routing.query_, "y").values[early]
    r_x = float(np.corrcoef(x, data.truth["prf_x"][early])[0, 1])
    r_y = float(np.corrcoef(y, -data.truth["prf_y"][early])[0, 1])  # rows run top-down
    print(
        f"early vertices ({early.sum()}): attention centre vs pRF centre r_x {r_x:.2f}, "
        f"r_y {r_y:.2f}",
        flush=True,
    )
    return {"n_vertices": int(early.sum()), "r_x": r_x, "r_y": r_y}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--out", type=Path, help="default: "
                        "benchmarks/results/routing_world_<backbone>.json")  # fmt: skip
    parser.add_argument("--backbone", default=BACKBONE, help="token backbone of all three")
    parser.add_argument("--routing", default="routing", help="routing encoder spec")
    parser.add_argument("--stimuli", nargs="+", default=["single", "composite"],
                        choices=["single", "composite"])  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[], metavar="SEED",
                        help="also refit routing on composites with these further seeds and "
                        "report the in-box shares over all seeds")  # fmt: skip
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds and "composite" not in args.stimuli:
        parser.error("--seeds refits routing on composites: add composite to --stimuli")
    if args.out is None:
        name = args.backbone.replace(":", "_").replace("=", "-").replace("/", "-")
        args.out = Path(f"benchmarks/results/routing_world_{name}.json")
    backbone = Backbone.from_spec(args.backbone)
    result = {"subject": args.subject, "backbone": args.backbone, "routing": args.routing,
              "n_train": args.n_train,
              "n_test": args.n_test, "min_ceiling": MIN_CEILING}  # fmt: skip
    for stimuli in args.stimuli:
        print(f"== {stimuli} images", flush=True)
        data = load_world(args.subject, n_train=args.n_train, n_test=args.n_test, stimuli=stimuli)
        tokens = extract_features(
            backbone, data.images, feature_type="tokens", progress=not args.quiet
        )
        pooled = extract_features(
            backbone, data.images, feature_type="embed", progress=not args.quiet
        )
        entry, routing = fit_and_score(data, tokens, pooled, args.routing, progress=not args.quiet)
        if stimuli == "composite":
            entry["attention_in_box"] = attention_in_boxes(data, tokens, routing)
            if args.seeds:
                entry["attention_in_box_seeds"] = attention_over_seeds(
                    data,
                    tokens,
                    routing,
                    entry["attention_in_box"],
                    args.seeds,
                    progress=not args.quiet,
                )
        else:
            entry["early_retinotopy"] = early_retinotopy(data, routing)
        result[stimuli] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
