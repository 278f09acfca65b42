"""BrainDiVE on the in-silico world: does guidance find what each region truly prefers?

Synthesizes images guided by an encoder of one subject (linear on world-clip by default; any
encoder spec with ``--encoder``, e.g. ``routing``, and any backbone with ``--backbone``, e.g.
``world-vit``; several backbones guide with the ensemble of one encoder on each,
:meth:`~brainenc.encoders.BrainModel.ensemble`) and the same seeds unguided, and scores both
against the simulator's truth and the world's independent judge (world-clip's zero-shot class is
printed as a second column, never the headline: the default encoder reads world-clip).
Objectives: each category ROI, an FFA − PPA contrast and a minimised FFA (``--objectives NAME
...``: only those, e.g. ``FFA PPA FFA-PPA``).

Settings are chosen on other seeds than the ones reported: with ``--select``, each candidate
scale runs on the selection seeds (default 1000–1015, times K with ``--oversample K``) and
each objective's scale with the highest judged-preferred fraction (ties, and the minimised FFA:
the higher mean true objective) is then run on the test seeds (default 0–63, times K), which
nothing was tuned on. ``--backbone`` given more than once names candidate guides (e.g.
``--backbone world-clip --backbone world-clip world-vit``: the world-clip encoder, or the
ensemble); with ``--select`` each objective's guide is chosen with its scale, by the same
rule. ``--min-preferred F`` changes the rule: the highest mean true objective among the
settings judged preferred at least a fraction F of the time. ``--selection SUMMARY`` reuses
the selection rows of an earlier run made with the same selection settings (and refuses one
made with others), so another rule or other test seeds need not rerun it; ``--settings
SUMMARY`` takes the guides and scales an earlier run chose, e.g. to run them with another
``--prior``. Every fraction and mean comes with its 95% interval. With
``--oversample K``, each run draws K candidates per image and keeps the ones the guide scores
highest (BrainDiVE's rerank, top 20% at K = 5); the unguided run is kept by the same rule, and
all candidates are scored too (rows "g. all", "u. all"); ``--rank-with BACKBONE ...`` keeps
instead the candidates that an encoder on those backbones scores highest, e.g. one the guide
does not contain (``--rank-encoder SPEC``: an encoder of another kind;
``--rank-with-guide``: the mean of it and the guide); ``--rank-augment K`` ranks by the mean
score over K shifted, mirrored copies of each candidate. With any of them, rows "g. guide" and
"u. guide" show what the guide alone would have kept.
Writes the images, grids and JSON scores to --out.

    python benchmarks/braindive_world.py --backbone world-clip --backbone world-clip world-vit \
        --select 0.125 0.25 0.5 1 --select-n 16 --oversample 5 --n 64 --seed 100 --steps 25
    python benchmarks/braindive_world.py --backbone world-clip --backbone world-clip world-vit \
        --select 0.125 0.25 0.5 1 --select-n 16 --oversample 5 --n 64 --seed 420 --steps 25 \
        --min-preferred 0.8 \
        --selection benchmarks/results/braindive_world_guides_seeds100-419.json
    python benchmarks/braindive_world.py --backbone world-clip --backbone world-clip world-vit \
        --oversample 5 --n 64 --seed 420 --steps 25 --prior PRIOR_FOLDER \
        --settings benchmarks/results/braindive_world_minpref_seeds420-739.json
    python benchmarks/braindive_world.py --backbone world-clip world-vit --select 0.25 0.5 1 \
        --select-n 16 --oversample 5 --n 64 --seed 100 --steps 25
    python benchmarks/braindive_world.py --select 0.25 0.5 1 --n 64 [--device cuda]
                                         [--prior PRIOR_FOLDER]
    python benchmarks/braindive_world.py --backbone world-clip world-vit --select 0.25 0.5 1 \
        --select-n 32 --n 64 --seed 100 --steps 25
    python benchmarks/braindive_world.py --guidance paper --scale 30 --n 16
    python benchmarks/braindive_world.py --encoder routing --n 16 --seed 100 --steps 25 --rois-only
    python benchmarks/braindive_world.py --encoder routing --backbone world-vit --n 16 --seed 100 \
        --steps 25 --rois-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from brainenc.encoders import BrainModel
from brainenc.synthesis import ROI, Contrast
from brainenc.synthesis.evaluate import RUNS
from brainenc.validation import device_argument
from brainenc.world import WorldSubject, load_oracle
from brainenc.world.prior import PRIOR_DIR
from brainenc.world.synthesis import (
    WorldBench,
    synthesize_world,
    world_brain_model,
    world_guidance,
    world_pipeline,
)

CATEGORY_ROIS = ("FFA", "EBA", "PPA", "VWFA", "food")


def world_objectives(rois_only: bool = False) -> list:
    """The benchmark's objectives: each category ROI, then (unless ``rois_only``) the FFA − PPA
    contrast and the minimised FFA."""
    objectives = [ROI(r) for r in CATEGORY_ROIS]
    return objectives if rois_only else [*objectives, Contrast("FFA", "PPA"), -ROI("FFA")]


def encoder_on(backbones, models: dict) -> BrainModel:
    """The encoder of ``models`` (one per backbone name) on ``backbones``: the one, or the
    ensemble of several."""
    members = [models[backbone] for backbone in backbones]
    return members[0] if len(members) == 1 else BrainModel.ensemble(members)


def unguided_samples(pipeline, *, n, seed, args):
    """The unguided candidates of seeds ``seed .. seed + n * oversample - 1`` (they depend on
    the prior only, so every guide shares them)."""
    return pipeline(None, n_images=n * args.oversample, seed=seed, guidance=None,
                    num_inference_steps=args.steps, batch_size=args.batch_size,
                    progress=False)  # fmt: skip


def run_objectives(pipeline, objectives, *, n, seed, guidance, args, unguided, out=None,
                   ranker=None, bench=None, label: str = "test") -> dict:  # fmt: skip
    """Synthesize and score every objective on seeds ``seed .. seed + n * oversample - 1``
    (keeping ``n`` images per run, the best by the guide or by ``ranker``, over
    ``args.rank_augment`` shifted copies where given), against ``bench`` (default: the shipped
    truth's); ``guidance`` is one recipe, or a recipe per objective name. Prints one line per
    objective, starting with ``label``."""
    rows = {}
    for objective in objectives:
        start = time.perf_counter()
        summary = synthesize_world(
            objective, subject=args.subject, n_images=n, seed=seed,
            guidance=guidance[objective.name] if isinstance(guidance, dict) else guidance,
            num_inference_steps=args.steps, pipeline=pipeline, unguided=unguided, out=out,
            device=args.device, oversample=args.oversample, ranker=ranker,
            rank_augment=args.rank_augment, batch_size=args.batch_size, bench=bench,
            progress=False,
        )  # fmt: skip
        summary["seconds"] = round(time.perf_counter() - start, 1)
        rows[objective.name] = summary
        guided = summary["guided"]
        preferred = guided.get("preferred_fraction")
        shown = "" if preferred is None else f"judged preferred {preferred:.0%}, "
        print(f"{label} {objective.name}: {shown}mean true {guided['mean_true']:.2f} "
              f"({summary['seconds']:.0f} s)", flush=True)  # fmt: skip
    return rows


def rankers_of(pipelines: dict, ranker, with_guide: bool) -> dict:
    """Each guide's ranker: ``ranker`` (``None``: the guide itself), or with ``with_guide`` the
    mean of the guide and ``ranker``."""
    if ranker is None or not with_guide:
        return dict.fromkeys(pipelines, ranker)
    return {name: BrainModel.ensemble([pipeline.brain_model, ranker])
            for name, pipeline in pipelines.items()}  # fmt: skip


def run_selection(pipelines, objectives, args, rankers=None, bench=None) -> dict:
    """Every (guide, scale) of ``pipelines`` × ``args.select`` on the selection seeds: per
    objective, a row per setting with its judged-preferred fraction and mean true objective."""
    table = {objective.name: [] for objective in objectives}
    unguided = unguided_samples(next(iter(pipelines.values())), n=args.select_n,
                                seed=args.select_seed, args=args)  # fmt: skip
    for guide, pipeline in pipelines.items():
        for scale in args.select:
            rows = run_objectives(pipeline, objectives, n=args.select_n, seed=args.select_seed,
                                  guidance=world_guidance(args.guidance, scale), args=args,
                                  unguided=unguided, ranker=(rankers or {}).get(guide),
                                  bench=bench,
                                  label=f"select guide {guide} scale {scale:g},")  # fmt: skip
            for name, row in rows.items():
                guided = row["guided"]
                table[name].append({"guide": guide, "scale": scale,
                                    "mean_true": guided["mean_true"],
                                    "preferred": guided.get("preferred_fraction")})  # fmt: skip
    return table


def choose_settings(table: dict, min_preferred: float | None = None) -> dict:
    """Each objective's ``(guide, scale)`` from its selection rows (:func:`run_selection`).

    Without ``min_preferred``: the highest judged-preferred fraction, ties to the higher mean
    true objective. With it: the highest mean true objective among the settings judged the
    preferred category at least that often, or the first rule where none is. Objectives
    without a preferred category (``preferred`` None) take the highest mean true objective.
    """
    chosen = {}
    for name, rows in table.items():
        judged_first = max(rows, key=lambda r: (r["preferred"] or 0.0, r["mean_true"]))
        passing = [
            r for r in rows
            if min_preferred is not None and (r["preferred"] is None
                                              or r["preferred"] >= min_preferred)
        ]  # fmt: skip
        best = max(passing, key=lambda r: r["mean_true"]) if passing else judged_first
        chosen[name] = (best["guide"], best["scale"])
    return chosen


SELECTION_ARGS = ("guidance", "select", "select_seed", "select_n", "steps", "oversample",
                  "rank_with", "rank_encoder", "rank_with_guide", "rank_augment", "batch_size",
                  "subject", "encoder", "backbone", "oracle",
                  "device")  # fmt: skip
"""The arguments a recorded selection must share with a run that reuses it."""
ADDED_ARGS = {"rank_augment": 0, "rank_encoder": None, "rank_with_guide": False,
              "objectives": None, "oracle": None}  # fmt: skip
"""Arguments added after some records were made, with the value those records imply."""


def reuse_selection(path, args, objectives) -> dict:
    """The selection table of an earlier run's ``summary.json``, checked to have been made with
    this run's selection arguments (:data:`SELECTION_ARGS`, the prior) for its objectives."""
    record = _read_summary(path, "--selection", "selection")
    _check_same(record["args"], args, SELECTION_ARGS, path, "--selection", prior=True)
    missing = [o.name for o in objectives if o.name not in record["selection"]]
    if missing:
        raise SystemExit(f"--selection {path} has no rows for {', '.join(missing)}; rerun the "
                         "selection for them")  # fmt: skip
    return {o.name: record["selection"][o.name] for o in objectives}


SETTINGS_ARGS = ("guidance", "steps", "oversample", "subject", "encoder")
"""The arguments a run must share with the run whose chosen settings it takes."""


def reuse_settings(path, args, objectives, guides) -> dict:
    """The guides and scales an earlier run's ``summary.json`` chose (its ``chosen``), for the
    test seeds of this run (e.g. with another prior): the run must share
    :data:`SETTINGS_ARGS` with it, its test seeds must not overlap the seeds the settings were
    chosen on, and each chosen guide must be one of ``guides``."""
    record = _read_summary(path, "--settings", "chosen")
    recorded = record["args"]
    _check_same(recorded, args, SETTINGS_ARGS, path, "--settings")
    if recorded.get("select") and _overlap(
        (recorded["select_seed"], recorded["select_n"] * recorded["oversample"]),
        (args.seed, args.n * args.oversample),
    ):
        raise SystemExit(f"--settings {path} was chosen on seeds from {recorded['select_seed']}, "
                         "which this run's test seeds overlap; give another --seed")  # fmt: skip
    settings = {}
    for objective in objectives:
        chosen = record["chosen"].get(objective.name)
        if chosen is None:
            raise SystemExit(f"--settings {path} chose nothing for {objective.name}")
        if chosen["guide"] not in guides:
            raise SystemExit(f"--settings {path} chose the guide {chosen['guide']} for "
                             f"{objective.name}; give it with --backbone "
                             f"{chosen['guide'].replace('+', ' ')}")  # fmt: skip
        settings[objective.name] = (chosen["guide"], chosen["scale"])
    return settings


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether seed ranges ``(first, count)`` overlap."""
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def _check_same(recorded: dict, args, keys, path, option: str, *, prior: bool = False) -> None:
    """Exit with one line naming every argument of ``keys`` (and the prior) that differs."""
    mine = json.loads(json.dumps(vars(args)))
    theirs = {**ADDED_ARGS, **recorded}
    differ = [key for key in keys if theirs.get(key) != mine.get(key)]
    if prior and _prior_key(recorded.get("prior", "")) != _prior_key(args.prior):
        differ.append("prior")
    if differ:
        shown = "; ".join(f"--{k.replace('_', '-')} {theirs.get(k)!r} there, {mine.get(k)!r} "
                          "here" for k in differ)  # fmt: skip
        raise SystemExit(f"{option} {path} was made with other settings ({shown}); rerun it or "
                         "give the same settings")  # fmt: skip


def _read_summary(path, option: str, key: str) -> dict:
    """A ``summary.json`` of this benchmark that holds ``key``, or a one-line exit."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"{option} {path}: cannot read it as JSON ({error})") from None
    if not isinstance(record, dict) or key not in record or "args" not in record:
        what = "a run with --select" if key == "selection" else "a run of this benchmark"
        raise SystemExit(f"{option} {path}: no {key} in it; give the summary.json of {what}")
    return record


def _prior_key(path) -> str:
    """A prior folder as runs compare it: the shipped prior wherever the package lies."""
    path = Path(path)
    return "shipped" if path.parts[-4:] == PRIOR_DIR.parts[-4:] else str(path.resolve())


def _pct(f: dict) -> str:
    low, high = f["ci95"]
    return f"{f['fraction']:.0%} [{low:.0%}, {high:.0%}]"


def print_table(rows: dict) -> None:
    print(f"{'objective':<10} {'run':<9} {'judged preferred':>20} {'judged none':>18} "
          f"{'world-clip pref.':>16} {'mean true [95% CI]':>22} {'nat. p90':>9} "
          f"{'nat. median pref.':>17}")  # fmt: skip
    for name, summary in rows.items():
        runs = [(run, summary[run]) for run in RUNS]
        if "by_guide" in summary["guided"]:  # what the guide alone would have kept
            runs += [(f"{run[0]}. guide", summary[run]["by_guide"]) for run in RUNS]
        if "candidates" in summary["guided"]:  # kept images first, then all candidates
            runs += [(f"{run[0]}. all", summary[run]["candidates"]) for run in RUNS]
        for run, r in runs:
            judged = r["fractions"]["judge"]
            clip = r["fractions"]["world-clip"]
            pref = _pct(judged["preferred"]) if "preferred" in judged else "-"
            clip_pref = f"{clip['preferred']['fraction']:.0%}" if "preferred" in clip else "-"
            low, high = r["mean_true_ci95"]
            median = summary.get("natural_true_median_preferred")
            print(f"{name:<10} {run:<9} {pref:>20} {_pct(judged['none']):>18} {clip_pref:>16} "
                  f"{r['mean_true']:>6.2f} [{low:.2f}, {high:.2f}] "
                  f"{summary['natural_true_p90']:>9.2f} "
                  f"{'-' if median is None else f'{median:.2f}':>17}", flush=True)  # fmt: skip
        diff = summary["true_difference"]
        kind = "paired" if diff["paired"] else "Welch"
        print(f"{name:<10} guided - unguided mean true {diff['mean']:+.2f} "
              f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}] ({kind})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guidance", choices=("robust", "paper"), default="robust")
    parser.add_argument("--scale", type=float, default=None,
                        help="guidance scale (default: robust 1, paper 30)")  # fmt: skip
    parser.add_argument("--select", type=float, nargs="+", default=None, metavar="SCALE",
                        help="choose each objective's scale (and guide, with several "
                        "--backbone) among these on the selection seeds")  # fmt: skip
    parser.add_argument("--min-preferred", type=float, default=None, metavar="F",
                        help="choose the highest mean true objective among the settings "
                        "judged preferred at least this often (where none is, and by default: "
                        "the highest judged fraction)")  # fmt: skip
    parser.add_argument("--selection", default=None, metavar="SUMMARY",
                        help="reuse the selection of an earlier run's summary.json (made with "
                        "the same selection settings) instead of rerunning it")  # fmt: skip
    parser.add_argument("--settings", default=None, metavar="SUMMARY",
                        help="take each objective's guide and scale from an earlier run's "
                        "summary.json (no selection), e.g. to run them with another "
                        "--prior")  # fmt: skip
    parser.add_argument("--select-seed", type=int, default=1000)
    parser.add_argument("--select-n", type=int, default=16)
    parser.add_argument("--n", type=int, default=64, help="test images per objective")
    parser.add_argument("--seed", type=int, default=0, help="first test noise seed")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--oversample", type=int, default=1,
                        help="draw this many candidates per image and keep the ones the guide "
                        "(or --rank-with's encoder) scores highest (BrainDiVE keeps the top "
                        "20%%: 5; default: 1)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=16,
                        help="images sampled at once (default: 16)")  # fmt: skip
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--encoder", default="linear", help="encoder spec (default: linear)")
    parser.add_argument(
        "--backbone",
        nargs="+",
        action="append",
        default=None,
        help="the encoder's backbone (default: world-clip); several: the guide "
        "is the ensemble of one encoder on each; repeated (with --select): "
        "candidate guides, one chosen per objective on the selection seeds",
    )
    parser.add_argument("--rank-with", nargs="+", default=None, metavar="BACKBONE",
                        help="with --oversample, keep the candidates that an encoder on these "
                        "backbones scores highest, not the guide (default: the guide)")  # fmt: skip
    parser.add_argument("--rank-encoder", default=None, metavar="SPEC",
                        help="the encoder spec of --rank-with's encoders, e.g. routing "
                        "(default: --encoder's)")  # fmt: skip
    parser.add_argument("--rank-with-guide", action="store_true",
                        help="rank by the mean of the guide and --rank-with's encoder")  # fmt: skip
    parser.add_argument("--rank-augment", type=int, default=0, metavar="K",
                        help="with --oversample, rank each candidate by its mean score over K "
                        "shifted, mirrored copies (default 0: the candidate alone; "
                        "docs/world.md compares rankers: the guide over 8 copies ranked "
                        "best)")  # fmt: skip
    parser.add_argument("--rois-only", action="store_true",
                        help="only the category ROIs (no contrast, no minimised FFA)")  # fmt: skip
    parser.add_argument("--objectives", nargs="+", default=None, metavar="NAME",
                        choices=[o.name for o in world_objectives()],
                        help="only these objectives (default: all)")  # fmt: skip
    parser.add_argument("--prior", default=str(PRIOR_DIR),
                        help="the diffusion prior's folder (default: the shipped one)")  # fmt: skip
    parser.add_argument("--oracle", default=None, metavar="CHECKPOINT",
                        help="a category oracle for the truth (default: the shipped one): the "
                        "guides are fitted on, and the images scored by, the world it makes "
                        "(benchmarks/oracle_retrain.py)")  # fmt: skip
    parser.add_argument("--device", default="cpu", type=device_argument,
                        help="where sampler, guide, truth and judges run")  # fmt: skip
    parser.add_argument("--out", default="brainenc_results/braindive_world")
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1; got {args.batch_size}")
    if args.oversample < 1:
        parser.error(f"--oversample must be at least 1; got {args.oversample}")
    if args.rank_with and args.oversample == 1:
        parser.error("--rank-with chooses among candidates: give --oversample 2 or more")
    if args.rank_augment < 0:
        parser.error(f"--rank-augment must be 0 or more copies; got {args.rank_augment}")
    if args.rank_augment and args.oversample == 1:
        parser.error("--rank-augment chooses among candidates: give --oversample 2 or more")
    if (args.rank_encoder or args.rank_with_guide) and not args.rank_with:
        parser.error("--rank-encoder and --rank-with-guide need --rank-with")
    if args.rank_with and len(set(args.rank_with)) < len(args.rank_with):
        parser.error("--rank-with names the same backbone twice")
    args.backbone = args.backbone or [["world-clip"]]
    if any(len(set(group)) < len(group) for group in args.backbone):
        parser.error("--backbone names the same backbone twice")
    guides = {"+".join(group): group for group in args.backbone}
    if len({frozenset(group) for group in args.backbone}) < len(args.backbone):
        parser.error("--backbone names the same guide twice")
    if args.settings and (args.select or args.scale is not None):
        parser.error("--settings excludes --select and --scale")
    if len(guides) > 1 and not (args.select or args.settings):
        parser.error("several --backbone guides need --select (or --settings) to choose "
                     "among them")  # fmt: skip
    if (args.selection or args.min_preferred is not None) and not args.select:
        parser.error("--selection and --min-preferred need --select")
    if args.min_preferred is not None and not 0 <= args.min_preferred <= 1:
        parser.error(f"--min-preferred must lie in 0..1; got {args.min_preferred}")
    if args.select and args.scale is not None:
        parser.error("--scale and --select exclude each other")
    if args.select and _overlap(
        (args.select_seed, args.select_n * args.oversample), (args.seed, args.n * args.oversample)
    ):
        parser.error("the selection seeds overlap the test seeds")

    if args.oracle and not Path(args.oracle).is_file():
        parser.error(f"--oracle {args.oracle} is not a file; give an oracle checkpoint "
                     "(benchmarks/oracle_retrain.py --save writes one)")  # fmt: skip
    if args.objectives and args.rois_only:
        parser.error("--objectives and --rois-only exclude each other")
    objectives = [o for o in world_objectives(args.rois_only)
                  if args.objectives is None or o.name in args.objectives]  # fmt: skip
    record = {"args": vars(args)}
    if args.selection:  # checked before any model is built
        record["selection"] = reuse_selection(args.selection, args, objectives)
    if args.settings:
        settings = reuse_settings(args.settings, args, objectives, guides)
    subject, bench = args.subject, None
    if args.oracle:
        subject = WorldSubject(args.subject, oracle=load_oracle(Path(args.oracle)))
        bench = WorldBench.build(subject, device=args.device)
    rank_encoder = args.rank_encoder or args.encoder
    shared = (args.rank_with or []) if rank_encoder == args.encoder else []
    backbones = dict.fromkeys([b for group in guides.values() for b in group] + shared)
    models = {backbone: world_brain_model(subject, backbone=backbone, encoder=args.encoder,
                                          progress=False) for backbone in backbones}  # fmt: skip
    rank_models = models if rank_encoder == args.encoder else {
        backbone: world_brain_model(subject, backbone=backbone, encoder=rank_encoder,
                                    progress=False) for backbone in args.rank_with or []
    }  # fmt: skip
    pipelines = {name: world_pipeline(encoder_on(group, models), args.prior, device=args.device)
                 for name, group in guides.items()}  # fmt: skip
    ranker = encoder_on(args.rank_with, rank_models) if args.rank_with else None
    rankers = rankers_of(pipelines, ranker, args.rank_with_guide)
    if not args.settings:
        settings = {objective.name: (next(iter(guides)), args.scale) for objective in objectives}
    if args.select:
        if "selection" not in record:
            record["selection"] = run_selection(pipelines, objectives, args, rankers, bench)
        settings = choose_settings(record["selection"], args.min_preferred)
    settings = {name: (g, world_guidance(args.guidance, scale).scale)
                for name, (g, scale) in settings.items()}  # fmt: skip
    record["chosen"] = {name: {"guide": g, "scale": scale} for name, (g, scale) in settings.items()}
    chosen = ", ".join(f"{name} {g} {scale:g}" for name, (g, scale) in settings.items())
    start = time.perf_counter()
    unguided = unguided_samples(next(iter(pipelines.values())), n=args.n, seed=args.seed,
                                args=args)  # fmt: skip
    rows = {}
    for guide, pipeline in pipelines.items():
        mine = [objective for objective in objectives if settings[objective.name][0] == guide]
        guidance = {o.name: world_guidance(args.guidance, settings[o.name][1]) for o in mine}
        rows.update(run_objectives(pipeline, mine, n=args.n, seed=args.seed, guidance=guidance,
                                   args=args, unguided=unguided, out=Path(args.out),
                                   ranker=rankers[guide], bench=bench))  # fmt: skip
    rows = {objective.name: rows[objective.name] for objective in objectives}
    last = args.seed + args.n * args.oversample - 1
    print(f"test: {args.guidance} guidance, guides and scales {chosen}, seeds {args.seed}-{last}, "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    print_table(rows)
    record["test"] = rows
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "summary.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
