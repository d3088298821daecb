"""YOLO, R-CNN, Fast R-CNN and Faster R-CNN on the same held-out canvases.

Each detector is trained by its own recipe with its defaults (or `--quick`)
and the same `--seed`, so all four see the same canvases; accuracy is the
recipe's pycocotools mAP@0.5 and mAP@[.5:.95] on the 500 test canvases.
Test-time speed is then measured side by side in this process: the saved
models run over the same `--timing-images` test canvases in turn, for
`--repeats` rounds, and the table gives the median images per second (R-CNN
and Fast R-CNN's selective search included, as it is part of their test
time) and the speed relative to R-CNN. The last line is JSON.

Training runs land in `--runs-root/<detector>`; a finished one (its
`metrics.json` written with the same settings) is reused, so an interrupted
benchmark picks up where it stopped.

    python -m benchmarks.detectors                 # every default: ~1 hour, 2 CPU cores
    python -m benchmarks.detectors --quick         # ~5 minutes
    python -m benchmarks.detectors --detectors yolo faster
    python -m benchmarks.detectors -- --train-images 1000 --epochs 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics

import keras

from components import detection
from recipes import rcnn, yolo
from recipes.run import detecting, flags

DETECTORS = ("yolo", "rcnn", "fast", "faster")
NAMES = {
    "yolo": "YOLO",
    "rcnn": "R-CNN",
    "fast": "Fast R-CNN",
    "faster": "Faster R-CNN",
}


def _recipe(name):
    return (yolo, []) if name == "yolo" else (rcnn, ["--variant", name])


def train(name, args):
    """The detector's recipe run (reused when finished with these settings)."""
    module, recipe_flags = _recipe(name)
    run_dir = os.path.join(args.runs_root, name)
    argv = [
        *recipe_flags,
        "--seed",
        str(args.seed),
        "--run-dir",
        run_dir,
        "--verbose",
        "0",
    ]
    if args.quick:
        argv.append("--quick")
    argv += args.recipe_args
    config, _ = flags.parse_config(module.Config, argv, "", "", module.QUICK)
    metrics_path = os.path.join(run_dir, "metrics.json")
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(metrics_path) and os.path.exists(config_path):
        with open(config_path) as f:
            if json.load(f) == json.loads(json.dumps(dataclasses.asdict(config))):
                print(f"{NAMES[name]}: reusing {run_dir}", flush=True)
                with open(metrics_path) as f:
                    return config, json.load(f)
    print(f"{NAMES[name]}: training into {run_dir}", flush=True)
    # Other settings, or a run cut short: this benchmark's own folder is redone.
    return config, module.main([*argv, "--overwrite"])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.detectors", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS
    )
    parser.add_argument("--quick", action="store_true", help="the recipes' --quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-root", default="runs/detectors")
    parser.add_argument("--timing-images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "recipe_args", nargs="*", help="flags for every recipe (after --)"
    )
    args = parser.parse_args(argv)
    if args.timing_images < 1 or args.repeats < 1:
        parser.error("--timing-images and --repeats must be positive")

    trained = {name: train(name, args) for name in args.detectors}

    # The same test canvases for every detector (same seed, same sizes).
    splits = detecting.load_splits(next(iter(trained.values()))[0])
    images = detecting.ground_truth(splits, "test")[0][: args.timing_images]
    # The saved YOLO model decodes; the recipes time the network and the
    # decoding apart, so the raw network is timed here.
    models = {
        name: detection.without_decoding(
            keras.saving.load_model(
                os.path.join(args.runs_root, name, "model.keras"), safe_mode=True
            )
        )
        for name in trained
    }
    speeds = {name: [] for name in trained}
    for round_index in range(args.repeats):
        for name, (config, _) in trained.items():
            module, _ = _recipe(name)
            _, timing = module.detect(config, models[name], images, images.shape[1:])
            speeds[name].append(timing["inference_images_per_second"])
        print(f"timing round {round_index + 1}/{args.repeats} done", flush=True)

    rows = {}
    for name, (_, metrics) in trained.items():
        rows[name] = {
            "map50": metrics["map50"],
            "map": metrics["map"],
            "images_per_second": statistics.median(speeds[name]),
            "train_seconds": metrics["train_seconds"],
            "parameters": metrics["parameters"],
        }
    reference = rows.get("rcnn", next(iter(rows.values())))["images_per_second"]
    print(
        f"\n{'detector':<14}{'mAP@0.5':>9}{'mAP':>8}{'images/s':>10}"
        f"{'x R-CNN':>9}{'train s':>9}{'params':>11}"
    )
    for name, row in rows.items():
        print(
            f"{NAMES[name]:<14}{row['map50']:>9.3f}{row['map']:>8.3f}"
            f"{row['images_per_second']:>10.1f}"
            f"{row['images_per_second'] / reference:>9.1f}"
            f"{row['train_seconds']:>9.0f}{row['parameters']:>11,}"
        )
    print(
        json.dumps(
            {
                "seed": args.seed,
                "quick": args.quick,
                "recipe_args": args.recipe_args,
                "timing_images": len(images),
                "repeats": args.repeats,
                "results": rows,
            }
        )
    )
    return rows


if __name__ == "__main__":
    main()
