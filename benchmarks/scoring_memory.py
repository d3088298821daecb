"""Scoring memory: peak RSS of a detection run's scoring as the test split grows.

At the end of a detection run the test detections are scored (pycocotools'
mAP, `coco_evaluate`), drawn as precision-recall and F1 curves
(`operating_curves`) and counted into a confusion matrix; validation while
training scores the validation split the same way. Each `--images` count is
scored in a child process of its own, for this tree and for `--reference`
side by side (interleaved, `--repeats` times): images of 640x480 with 1-20
objects of 3 classes, and `--detections` per image, as a one-epoch detector
gives them (near the objects, and anywhere). The figure is the child's peak
RSS over its RSS before scoring, in MiB (the median over repeats).

The goal, fixed before the first run (issue 31): a training run's peak RSS
grows by at most 10% from 1k to 16k images (108 MiB over the 1,081 measured
at 1k on 2 cores); the input pipeline takes 33 of them (819 -> 852 MiB), so
from 200 to 3,200 test images (those sets' test splits) the scoring may add
at most 75 MiB more. The last line is JSON.

    python -m benchmarks.scoring_memory                    # ~2 minutes
    python -m benchmarks.scoring_memory --images 200 800 --repeats 1
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile

from benchmarks.cli import docstring_parser
from benchmarks.machine import summary_line
from benchmarks.time_to_accuracy import ROOT, child_env, export, resolve

REFERENCE = "1ba52a6"  # before the chunked scoring
GOAL_MIB = 75

CHILD = r"""
import json, resource, sys
import numpy as np
from components import detection

images, per_image = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
boxes = np.full((images, 20, 4), -1.0, "float32")
labels = np.full((images, 20), -1, "int32")
found = {"boxes": np.zeros((images, per_image, 4), "float32"),
         "scores": rng.random((images, per_image)).astype("float32"),
         "labels": rng.integers(0, 3, (images, per_image)).astype("int32"),
         "num_detections": np.full(images, per_image, "int32")}
for i in range(images):
    count = rng.integers(1, 21)
    corner = rng.uniform(0, [560, 400], (count, 2))
    sides = rng.uniform(10, 160, (count, 2))
    boxes[i, :count] = np.concatenate([corner, corner + sides], 1)
    labels[i, :count] = rng.integers(0, 3, count)
    near = boxes[i, rng.integers(0, count, per_image)] + rng.normal(0, 6, (per_image, 4))
    anywhere = np.concatenate([corner := rng.uniform(0, [560, 400], (per_image, 2)),
                               corner + rng.uniform(10, 160, (per_image, 2))], 1)
    found["boxes"][i] = np.where(rng.random((per_image, 1)) < 0.5, near, anywhere)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
truth = detection.coco_ground_truth(boxes, labels, (480, 640), ["a", "b", "c"])
rows = detection.coco_detections(found)
figures = detection.coco_evaluate(truth, rows)
detection.operating_curves(truth, rows)
detection.confusion_matrix(truth, rows)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps({"added_mib": (after - before) / 1024,
                              "map": figures["map"]}))
"""


def measure(tree, images, per_image):
    """Peak RSS added by scoring, in a child running `tree`'s code."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(images), str(per_image)],
        cwd=tree,
        env=child_env(tree),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree} exited {done.returncode}:\n{done.stderr[-2000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def main(argv=None):
    parser = docstring_parser("scoring_memory", __doc__)
    parser.add_argument("--images", type=int, nargs="+", default=[200, 800, 3200])
    parser.add_argument("--detections", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--reference", default=REFERENCE, help="'none': this tree only."
    )
    args = parser.parse_args(argv)
    print(summary_line(), flush=True)
    trees = {"this": ROOT}
    if args.reference != "none":
        folder = tempfile.mkdtemp(prefix="scoring-memory-")
        trees[args.reference] = export(resolve(args.reference), folder)
    added = {(side, n): [] for side in trees for n in args.images}
    scores = {}
    for repeat in range(args.repeats):
        for n in args.images:
            order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
            for side in order:
                result = measure(trees[side], n, args.detections)
                added[side, n].append(result["added_mib"])
                scores[side, n] = result["map"]
                print(
                    f"{side:>8} {n:>6} images: +{result['added_mib']:.0f} MiB",
                    flush=True,
                )
    rows = [
        {
            "tree": side,
            "images": n,
            "added_mib": statistics.median(added[side, n]),
            "map": scores[side, n],
        }
        for side in trees
        for n in args.images
    ]
    print(f"\n{'tree':>8} {'test images':>12} {'scoring adds MiB':>17} {'mAP':>7}")
    for row in rows:
        print(
            f"{row['tree']:>8} {row['images']:>12} {row['added_mib']:>17.0f} "
            f"{row['map']:>7.4f}"
        )
    ours = {r["images"]: r["added_mib"] for r in rows if r["tree"] == "this"}
    growth = ours[max(ours)] - ours[min(ours)]
    print(
        f"this tree, {min(ours)} -> {max(ours)} images: +{growth:.0f} MiB "
        f"(goal: at most {GOAL_MIB}) -> {'met' if growth <= GOAL_MIB else 'missed'}"
    )
    summary = {"rows": rows, "growth_mib": growth, "goal_mib": GOAL_MIB}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
