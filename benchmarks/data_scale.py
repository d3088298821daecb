"""Data at scale: memory and speed as a YOLO set grows, this tree against a reference.

Generates YOLO-layout sets of `--sizes` JPEG images of 640x480 (1-20 boxes
each: rectangles, ellipses and triangles of three colours on noise), and
measures, for this tree and for `--reference` (bcd95ab, before streaming)
side by side, each in a child process of its own (its peak RSS is its own):

- the input pipeline alone: load the splits and read one training epoch of
  `recipes.yolo`'s batches (images/s, and seconds to the first batch);
- one training epoch of `recipes.yolo` (train images / training seconds);
- for this tree only, `--cache disk`: the pipeline once to fill the cache,
  then again warm (seconds from the start of loading to the first batch).

The goals, fixed before any run: this tree's peak RSS grows by at most 10%
from the smallest set to the largest, in both measures; its pipeline
delivers at least 2x the images/s that its training consumes; with a warm
disk cache the first batch arrives within 5 s at the largest set. The
reference keeps its default `--max-objects 4`; this tree keeps every box.
The sets are kept in `--data-root` and reused. The last line is JSON.

    python -m benchmarks.data_scale                            # 1k, 4k, 16k: ~1 hour
    python -m benchmarks.data_scale --sizes 500 2000 --quick   # a few minutes
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.cli import docstring_parser
from benchmarks.time_to_accuracy import ROOT, child_env, export, resolve

REFERENCE = "bcd95ab"
SHAPES = ("rectangle", "ellipse", "triangle")
SIZE = (640, 480)

PROBE = r"""
import inspect, json, resource, sys, time

mode, root, size, run_dir, *extra = sys.argv[1:]
from components import data
from recipes import yolo
try:
    from recipes.run import flags
except ImportError:  # before recipes/run/
    from recipes import harness as flags

start = time.perf_counter()  # after the imports: loading and reading only

argv = ["--dataset", f"yolo:{root}", "--image-size", size, "--verbose", "0", *extra]
result = {}
if mode == "pipeline":
    config, _ = flags.parse_config(yolo.Config, argv, "yolo", "", yolo.QUICK)
    splits = yolo.load_splits(config)
    result["load_seconds"] = time.perf_counter() - start
    streaming = "split" in inspect.signature(yolo.make_pipeline).parameters
    train = "train" if streaming else splits.train
    batches = yolo.make_pipeline(config, splits, train, data.EpochSeeds(0))
    began, first, count = time.perf_counter(), None, 0
    for images, _ in batches:
        count += int(images.shape[0])
        if first is None:
            first = time.perf_counter()
            result["first_batch_from_start"] = first - start
    result["images_per_second"] = count / (time.perf_counter() - began)
    result["images"] = count
else:
    metrics = yolo.main([*argv, "--epochs", "1", "--run-dir", run_dir])
    result["train_seconds"] = metrics["train_seconds"]
result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(result))
"""


def _draw(index, folder, seed):
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    width, height = SIZE
    base = rng.integers(60, 200, 3)
    pixels = base + rng.normal(0, 20, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    lines = []
    for _ in range(int(rng.integers(1, 21))):
        label = int(rng.integers(len(SHAPES)))
        side = rng.uniform(0.04, 0.3) * height
        w, h = side * rng.uniform(0.7, 1.4), side
        x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [x0, y0, x0 + w, y0 + h]
        if SHAPES[label] == "rectangle":
            draw.rectangle(box, fill=colour)
        elif SHAPES[label] == "ellipse":
            draw.ellipse(box, fill=colour)
        else:
            draw.polygon([(x0, y0 + h), (x0 + w / 2, y0), (x0 + w, y0 + h)], colour)
        lines.append(
            f"{label} {(x0 + w / 2) / width:.6f} {(y0 + h / 2) / height:.6f} "
            f"{w / width:.6f} {h / height:.6f}"
        )
    name = f"{index:06d}"
    image.save(os.path.join(folder, "images", name + ".jpg"), quality=90)
    with open(os.path.join(folder, "labels", name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def _draw_range(args):
    start, stop, folder, seed = args
    for index in range(start, stop):
        _draw(index, folder, seed)


def generate(root, count, seed=0):
    """The first `count` images of one master set under `root/all`, linked
    into `root/n<count>` (images/, labels/, classes.txt). Reused when there."""
    import multiprocessing

    master = os.path.join(root, "all")
    for sub in ("images", "labels"):
        os.makedirs(os.path.join(master, sub), exist_ok=True)
    have = len(os.listdir(os.path.join(master, "labels")))
    if have < count:
        step = max(1, (count - have) // 16)
        jobs = [
            (s, min(s + step, count), master, seed) for s in range(have, count, step)
        ]
        print(f"drawing images {have}-{count} into {master}", flush=True)
        with multiprocessing.Pool(os.cpu_count()) as pool:
            pool.map(_draw_range, jobs)
    folder = os.path.join(root, f"n{count}")
    if not os.path.isfile(os.path.join(folder, "classes.txt")):
        for sub in ("images", "labels"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        for index in range(count):
            for sub, ext in (("images", ".jpg"), ("labels", ".txt")):
                name = f"{index:06d}{ext}"
                link = os.path.join(folder, sub, name)
                if not os.path.lexists(link):
                    os.symlink(os.path.join(master, sub, name), link)
        with open(os.path.join(folder, "classes.txt"), "w") as f:
            f.write("\n".join(SHAPES) + "\n")
    return folder


def probe(tree, mode, folder, image_size, run_dir, extra=(), env=None):
    """One measurement in a child process running `tree`'s code."""
    command = [sys.executable, "-c", PROBE, mode, folder, str(image_size), run_dir]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, *extra],
        cwd=tree,
        env={**child_env(tree), **(env or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{mode} in {tree} exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def train_images(count):
    """The training split of a yolo: folder of `count` images (the loaders'
    default fractions, 0.1 and 0.2, in both trees)."""
    return count - max(1, round(0.2 * count)) - max(1, round(0.1 * count))


def main(argv=None):
    parser = docstring_parser("data_scale", __doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument(
        "--reference", default=REFERENCE, help="'none': this tree only."
    )
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument(
        "--data-root",
        default=os.path.join(tempfile.gettempdir(), "keras-notes-data-scale"),
    )
    parser.add_argument(
        "--quick", action="store_true", help="Pipeline only, no training."
    )
    args = parser.parse_args(argv)
    trees = {"this": ROOT}
    scratch = tempfile.mkdtemp(prefix="data-scale-")
    if args.reference != "none":
        os.makedirs(os.path.join(scratch, "ref"))
        trees["reference"] = export(
            resolve(args.reference), os.path.join(scratch, "ref")
        )
    rows = []
    for count in sorted(args.sizes):
        folder = generate(args.data_root, count)
        # Alternate which tree goes first, so a slow spell falls on both.
        order = list(trees) if len(rows) % 2 == 0 else list(reversed(trees))
        for mode in ("pipeline",) + (() if args.quick else ("train",)):
            for side in order:
                run_dir = os.path.join(scratch, f"{side}-{count}-{mode}")
                result = probe(trees[side], mode, folder, args.image_size, run_dir)
                if mode == "train":
                    result["images"] = train_images(count)
                rows.append({"side": side, "mode": mode, **result, "images": count})
                rows[-1]["trained_images"] = result["images"]
                print(json.dumps(rows[-1]), flush=True)
        cache = {"KERAS_NOTES_CACHE": os.path.join(scratch, "cache")}
        for label in ("disk cache, cold", "disk cache, warm"):
            result = probe(
                ROOT,
                "pipeline",
                folder,
                args.image_size,
                "",
                ["--cache", "disk"],
                cache,
            )
            rows.append(
                {
                    "side": "this",
                    "mode": label,
                    **result,
                    "images": count,
                    "trained_images": result["images"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    summary = summarize(rows, sorted(args.sizes))
    print(json.dumps({"rows": rows, "summary": summary}))
    return {"rows": rows, "summary": summary}


def summarize(rows, sizes):
    def find(side, count, mode):
        for row in rows:
            if (row["side"], row["images"], row["mode"]) == (side, count, mode):
                return row
        return None

    print(
        f"\n{'images':>7} {'tree':10} {'measure':18} {'peak RSS MiB':>13} {'images/s':>9} {'first batch s':>14}"
    )
    for row in rows:
        rate = row.get("images_per_second")
        if rate is None and row.get("train_seconds"):
            rate = row["trained_images"] / row["train_seconds"]
        print(
            f"{row['images']:>7} {row['side']:10} {row['mode']:18} "
            f"{row['peak_rss_mib']:>13.0f} {rate or float('nan'):>9.1f} "
            f"{row.get('first_batch_from_start', float('nan')):>14.1f}"
        )
    small, large = sizes[0], sizes[-1]
    summary = {}
    for mode in ("pipeline", "train"):
        a, b = find("this", small, mode), find("this", large, mode)
        if a and b:
            summary[f"{mode}_rss_growth"] = round(
                b["peak_rss_mib"] / a["peak_rss_mib"], 3
            )
    warm = find("this", large, "disk cache, warm")
    if warm:
        summary["warm_cache_first_batch_seconds"] = round(
            warm["first_batch_from_start"], 1
        )
    pipe, train = find("this", large, "pipeline"), find("this", large, "train")
    if pipe and train:
        summary["pipeline_over_training"] = round(
            pipe["images_per_second"]
            / (train["trained_images"] / train["train_seconds"]),
            2,
        )
    # A goal whose figure was not measured (--quick trains nothing) is left out.
    goals = {
        "rss_growth_at_most_10_percent": all(
            v <= 1.10 for k, v in summary.items() if k.endswith("rss_growth")
        ),
    }
    if "pipeline_over_training" in summary:
        goals["pipeline_at_least_2x_training"] = summary["pipeline_over_training"] >= 2
    if "warm_cache_first_batch_seconds" in summary:
        goals["warm_first_batch_within_5_s"] = (
            summary["warm_cache_first_batch_seconds"] <= 5
        )
    summary["goals"] = goals
    print("\n" + ", ".join(f"{k}: {v}" for k, v in summary.items() if k != "goals"))
    print(
        "goals: "
        + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items())
    )
    return summary


if __name__ == "__main__":
    main()
