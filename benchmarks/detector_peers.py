"""This project's detectors against the one users pick instead: Ultralytics YOLOv8n.

Each data set is written to disk in Ultralytics' layout with a `data.yaml`
(`ROOT/images/{train,val,test}`, `ROOT/labels/...`), so that both trainers
read the same files:

- `shapes`: drawn circles, squares and triangles, 1-8 an image, JPEGs of
  160-480 px (`benchmarks.shapes`);
- `canvases`: the digit canvases of the recipes' default (up to 4 digits);
- `canvases-hard`: up to 20 digits of widely varying size, overlapping, on
  textured backgrounds.

Every detector is trained on the set's train split (validated on `val`),
then predicts the test images from their files, and one scorer rates all of
them with pycocotools against the test label files, in each image's own
pixels (`score`). The detectors: this project's `recipes.yolo` and
`recipes.rcnn --variant faster` (run as their commands; `yolo_default` is the
own-data command as a user types it, no flag of the benchmark's; `yolo` is
`--head v1`, `yolo_dense` is `--head dense`), and YOLOv8n from its
model yaml, no pretrained weights (`pip install -e ".[peers]"`; skipped with
the reason when missing). Two budgets:

- `default`: the project's recipes at their defaults (or `--epochs`,
  `--batch-size` and `--learning-rate`); YOLOv8n is given the time the
  first project detector of `--detectors` took (Ultralytics' `time=`), or
  `--peer-seconds`;
- `plateau`: YOLOv8n until its validation fitness has not improved for 10
  epochs (`patience=10`) or 2 hours; each project recipe is then given that
  time, as epochs at its measured time per epoch.

    python -m benchmarks.detector_peers --sets shapes --budget default
    python -m benchmarks.detector_peers --sets shapes --detectors yolo_dense \
        yolov8n --epochs 18 --batch-size 4 --learning-rate 0.002  # equal time
    python -m benchmarks.detector_peers --budget plateau          # hours
    python -m benchmarks.detector_peers --quick                   # minutes
    python -m benchmarks.detector_peers --sets shapes --detectors yolo_dense \
        yolov8n --epochs 22 --peer-python peers/bin/python   # Ultralytics apart
    python -m benchmarks.detector_peers --sets shapes --detectors yolov8n \
        --peer-seconds 577 --peer-option batch=4 --peer-option nbs=4

YOLOv8n runs at Ultralytics' defaults unless `--peer-option` says otherwise,
with PyTorch's threads set to the machine's cores as the project's detectors
have them (`--peer-threads 0`: Ultralytics' own choice, one fewer), at the
input side the first project detector trained at.

The table gives, per set and detector, mAP@0.5 and mAP@[.5:.95] on the test
images, the training seconds and the budget; the JSON (`--out`) keeps them
with the machine (`benchmarks.machine`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import machine, shapes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = ("shapes", "canvases", "canvases-hard")
DETECTORS = ("yolo_default", "yolo", "yolo_dense", "faster_rcnn", "yolov8n")
# The detectors run as a user runs them on their own data: the command alone,
# no flag of the benchmark's (input size, resize, schedule are its own).
AS_IS = ("yolo_default",)
# The project recipes' flags the benchmark passes through (None: the default).
RECIPE_FLAGS = ("epochs", "batch_size", "learning_rate")
# Ultralytics' train() options the benchmark sets itself: the set, the budget
# and where the run goes. --peer-option may not change them.
PEER_FIXED = (
    *("data", "imgsz", "epochs", "time", "patience"),
    *("device", "project", "name", "exist_ok", "pretrained"),
)
PLATEAU_PATIENCE = 10
PLATEAU_CAP_SECONDS = 2 * 3600
# Image counts (train, val, test) and the network's input side per set.
# Sides are multiples of the YOLO recipe's 7x7 grid (Ultralytics rounds
# them up to its stride of 32 itself).
SIZES = {
    "shapes": ((700, 150, 150), 224),
    "canvases": ((3000, 200, 500), 112),
    "canvases-hard": ((3000, 200, 500), 336),
}
QUICK_SIZES = {name: ((48, 16, 16), 112) for name in SETS}


# ---------------------------------------------------------------------------
# The sets, on disk
# ---------------------------------------------------------------------------


def write_canvases(root, counts, size, hard, seed=0):
    """The digit canvases as PNG files in Ultralytics' layout."""
    from PIL import Image

    from components import data

    options = {"canvas_size": size, "seed": seed, "progress": False}
    if hard:
        options.update(
            max_objects=20,
            glyph_size=(max(8, size // 32), max(8, size * 3 // 8)),
            max_iou=0.3,
            background="textured",
        )
    else:
        options.update(max_objects=4, glyph_size=(max(8, size // 6), size * 2 // 5))
    splits = data.load_digit_canvases(*counts, **options)
    for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        images = os.path.join(root, "images", name)
        labels = os.path.join(root, "labels", name)
        os.makedirs(images, exist_ok=True)
        os.makedirs(labels, exist_ok=True)
        dataset = data.stream_examples(splits.stream(split)).batch(256)
        index = 0
        for batch in dataset.as_numpy_iterator():
            for image, boxes, classes in zip(
                batch["images"],
                batch["bounding_boxes"]["boxes"],
                batch["bounding_boxes"]["labels"],
            ):
                stem = f"{name}_{index:05d}"
                pixels = np.round(image[..., 0] * 255).astype("uint8")
                Image.fromarray(pixels).convert("RGB").save(
                    os.path.join(images, stem + ".png")
                )
                with open(os.path.join(labels, stem + ".txt"), "w") as f:
                    for (x0, y0, x1, y1), label in zip(boxes, classes):
                        if label >= 0:
                            f.write(
                                f"{label} {(x0 + x1) / 2 / size:.6f} "
                                f"{(y0 + y1) / 2 / size:.6f} {(x1 - x0) / size:.6f} "
                                f"{(y1 - y0) / size:.6f}\n"
                            )
                index += 1
    with open(os.path.join(root, "data.yaml"), "w") as f:
        f.write(f"path: {os.path.abspath(root)}\n")
        f.write("train: images/train\nval: images/val\ntest: images/test\n")
        f.write("names:\n" + "".join(f"  {d}: '{d}'\n" for d in range(10)))


def write_set(name, root, counts):
    if os.path.isfile(os.path.join(root, "data.yaml")):
        return root  # written by an earlier run
    train, val, test = counts
    if name == "shapes":
        shapes.write_shapes(root, {"train": train, "val": val, "test": test})
    else:
        size = (QUICK_SIZES if train < 100 else SIZES)[name][1]
        write_canvases(root, counts, size, hard=name == "canvases-hard")
    return root


# ---------------------------------------------------------------------------
# One scorer for every detector
# ---------------------------------------------------------------------------


def test_truth(root):
    """COCO ground truth of the test images from their label files, in each
    image's own pixels; also the file of each image id."""
    from PIL import Image

    folder = os.path.join(root, "images", "test")
    names = sorted(os.listdir(folder))
    with open(os.path.join(root, "data.yaml")) as f:
        classes = sum(1 for line in f if line.startswith("  "))
    images, annotations, files = [], [], {}
    for image_id, name in enumerate(names, 1):
        path = os.path.join(folder, name)
        width, height = Image.open(path).size
        images.append({"id": image_id, "width": width, "height": height})
        files[image_id] = path
        label_file = os.path.join(
            root, "labels", "test", os.path.splitext(name)[0] + ".txt"
        )
        if not os.path.isfile(label_file):
            continue
        for line in open(label_file).read().split("\n"):
            if not line.strip():
                continue
            label, cx, cy, w, h = (float(v) for v in line.split())
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": str(i)} for i in range(classes)]
    truth = {"images": images, "annotations": annotations, "categories": categories}
    return truth, files


def score(truth, detections):
    """mAP@0.5 and mAP@[.5:.95] of COCO result rows (`image_id`,
    `category_id`, `bbox` [x, y, w, h] in the image's pixels, `score`)."""
    from components.detection import coco_evaluate

    scores = coco_evaluate(truth, detections)
    return {"map50": scores["map50"], "map": scores["map"]}


# ---------------------------------------------------------------------------
# The detectors
# ---------------------------------------------------------------------------


def project_command(recipe, root, size, run_dir, quick=False, **flags):
    """The command that trains a project recipe on the set: its defaults,
    with the `RECIPE_FLAGS` given (`None`: the recipe's default)."""
    unknown = sorted(set(flags) - set(RECIPE_FLAGS))
    if unknown:
        raise ValueError(
            f"project_command takes the flags {', '.join(RECIPE_FLAGS)}; got {unknown}."
        )
    module, extra = {
        "yolo_default": ("recipes.yolo", []),
        "yolo": ("recipes.yolo", ["--head", "v1"]),
        "yolo_dense": ("recipes.yolo", ["--head", "dense"]),
        "faster_rcnn": ("recipes.rcnn", ["--variant", "faster"]),
    }[recipe]
    command = [sys.executable, "-m", module, *extra, "--dataset", f"yolo:{root}"]
    command += ["--run-dir", run_dir, "--overwrite", "--verbose", "0"]
    if recipe in AS_IS:
        return command + (["--quick", "--time", "1"] if quick else [])
    command += ["--image-size", str(size), "--resize", "letterbox"]
    if quick:
        command += ["--quick"]
    for name in RECIPE_FLAGS:
        if flags.get(name) is not None:
            command += ["--" + name.replace("_", "-"), str(flags[name])]
    return command


def run_project(recipe, root, size, run_dir, quick=False, **flags):
    """Trains a project recipe on the set; returns `(train seconds, epochs,
    COCO rows for the test files, the input side it trained at)`."""
    command = project_command(recipe, root, size, run_dir, quick, **flags)
    _check(subprocess.run(command, cwd=ROOT, capture_output=True, text=True), command)
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        ran = json.load(f)
    # Epochs run: the history's rows (a --time run plans its own).
    with open(os.path.join(run_dir, "history.csv")) as f:
        epochs = max(0, sum(1 for _ in f) - 1) or ran["epochs"]
    out = os.path.join(run_dir, "test_predictions.json")
    folder = os.path.join(root, "images", "test")
    command = [sys.executable, "-m", "recipes.predict", run_dir, folder]
    command += ["--out", out, "--score-threshold", "0", "--verbose", "0"]
    _check(subprocess.run(command, cwd=ROOT, capture_output=True, text=True), command)
    with open(out) as f:
        found = json.load(f)
    return metrics["train_seconds"], epochs, _by_file(found), ran["image_size"]


def _by_file(found):
    names = {image["id"]: image["file_name"] for image in found["images"]}
    return [
        {**row, "image_id": os.path.basename(names[row["image_id"]])}
        for row in found["detections"]
    ]


def run_yolov8n(
    root,
    size,
    run_dir,
    seconds=None,
    epochs=300,
    patience=None,
    python=None,
    options=None,
    threads=None,
):
    """Trains YOLOv8n in a process of its own (PyTorch and TensorFlow in one
    process crashed), run by `python` (this interpreter by default); returns
    `(train seconds, epochs, COCO rows for the test files)`."""
    os.makedirs(run_dir, exist_ok=True)
    out = os.path.join(run_dir, "peer.json")
    job = {"root": root, "size": size, "run_dir": run_dir, "seconds": seconds}
    job.update(epochs=epochs, patience=patience, options=options or {})
    job["threads"] = threads
    command = [python or sys.executable, "-m", "benchmarks.detector_peers"]
    command += ["--peer-job", json.dumps(job), "--out", out]
    _check(subprocess.run(command, cwd=ROOT, capture_output=True, text=True), command)
    with open(out) as f:
        return tuple(json.load(f))


def train_yolov8n(
    root,
    size,
    run_dir,
    seconds=None,
    epochs=300,
    patience=None,
    options=None,
    threads=None,
):
    """Trains YOLOv8n from its model yaml (no pretrained weights) on CPU,
    with Ultralytics' own `options` (such as `{"batch": 4}`) on top;
    returns `(train seconds, epochs, COCO rows for the test files)`.

    `threads`: PyTorch's threads (the machine's cores by default, as the
    project's detectors use them); 0 leaves Ultralytics' own choice, one
    fewer than the cores (`NUM_THREADS`), which it sets when it picks the
    device."""
    import ultralytics.utils as ultralytics_utils
    from ultralytics import YOLO

    if threads != 0:
        count = threads or os.cpu_count()
        ultralytics_utils.NUM_THREADS = count
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("ultralytics") and hasattr(
                module, "NUM_THREADS"
            ):
                module.NUM_THREADS = count

    model = YOLO("yolov8n.yaml")
    settings = {
        "data": os.path.join(root, "data.yaml"),
        "imgsz": size,
        "epochs": epochs,
        "device": "cpu",
        "project": run_dir,
        "name": "train",
        "exist_ok": True,
        "plots": False,
        "verbose": False,
        "seed": 0,
        "pretrained": False,
        "amp": False,
        "workers": 2,
    }
    if seconds:
        settings["time"] = seconds / 3600
    if patience:
        settings["patience"] = patience
    settings.update(check_peer_options(options or {}))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model.train(**settings)
    seconds = time.perf_counter() - start
    best = os.path.join(run_dir, "train", "weights", "best.pt")
    trained = YOLO(best if os.path.isfile(best) else model.ckpt_path)
    folder = os.path.join(root, "images", "test")
    rows = []
    for name in sorted(os.listdir(folder)):
        (result,) = trained.predict(
            os.path.join(folder, name),
            imgsz=size,
            conf=0.001,
            iou=0.7,
            max_det=100,
            device="cpu",
            verbose=False,
        )
        for (x0, y0, x1, y1), label, confidence in zip(
            result.boxes.xyxy.tolist(),
            result.boxes.cls.tolist(),
            result.boxes.conf.tolist(),
        ):
            rows.append(
                {
                    "image_id": name,
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(confidence),
                }
            )
    epochs_run = _epochs_run(os.path.join(run_dir, "train", "results.csv"))
    return seconds, epochs_run, rows


def _epochs_run(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return max(0, sum(1 for _ in f) - 1)


def _check(done, command):
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )


def parse_peer_option(text):
    """`KEY=VALUE` of `--peer-option` as `(key, value)`: the value a Python
    literal where it reads as one (`4`, `0.01`, `False`), else the string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"--peer-option must be KEY=VALUE (an Ultralytics train option, "
            f"such as batch=4); got {text!r}."
        )
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return key.strip(), value


def check_peer_options(options):
    """`options` for Ultralytics, refusing those the benchmark sets itself."""
    fixed = sorted(set(options) & set(PEER_FIXED))
    if fixed:
        raise ValueError(
            f"--peer-option cannot set {', '.join(fixed)}: the benchmark sets "
            f"{', '.join(PEER_FIXED)} itself (the set, the budget, the run folder)."
        )
    return dict(options)


def peer_missing(python=None):
    """Why YOLOv8n cannot run under `python` (this interpreter by default),
    or `None`."""
    import importlib.util

    if python is None or python == sys.executable:
        if importlib.util.find_spec("ultralytics") is None:
            return 'ultralytics is not installed (pip install -e ".[peers]")'
        return None
    try:
        done = subprocess.run(
            [python, "-c", "import ultralytics"], capture_output=True, text=True
        )
    except OSError as error:
        return f"--peer-python {python}: {error.strerror}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"--peer-python {python} cannot import ultralytics ({last})"
    return None


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


def benchmark_set(name, folder, budget, detectors, quick, recipe=None, peer=None):
    """One set's table rows. `recipe`: the project recipes' `RECIPE_FLAGS`;
    `peer`: YOLOv8n's `python`, Ultralytics `options` and, under the
    default budget, `seconds` (else the first project detector's time)."""
    recipe, peer = dict(recipe or {}), dict(peer or {})
    counts, size = (QUICK_SIZES if quick else SIZES)[name]
    root = write_set(name, os.path.join(folder, name), counts)
    truth, files = test_truth(root)
    ids = {os.path.basename(path): image_id for image_id, path in files.items()}
    rows, skipped = {}, {}
    project = [d for d in detectors if d != "yolov8n"]
    found = {}

    def record(detector, seconds, epochs, detections, image_size=None):
        for row in detections:
            row["image_id"] = ids[row["image_id"]]
        found[detector] = {
            **score(truth, detections),
            "train_seconds": round(seconds, 1),
            "epochs": epochs,
            "image_size": image_size,
        }
        print(f"{name} {detector}: {found[detector]}", flush=True)

    def peer_run(**budget_options):
        # At the input side of the first project detector (the default
        # chooses its own from the objects): the same images, the same size.
        side = found[project[0]]["image_size"] if project and found else size
        return run_yolov8n(
            root,
            side,
            f"{runs}/yolov8n",
            python=peer.get("python"),
            options=peer.get("options"),
            threads=peer.get("threads"),
            **budget_options,
        ) + (side,)

    runs = os.path.join(folder, "runs", name, budget)
    if budget == "default":
        for detector in project:
            record(
                detector,
                *run_project(
                    detector, root, size, f"{runs}/{detector}", quick, **recipe
                ),
            )
        if "yolov8n" in detectors:
            reason = peer_missing(peer.get("python"))
            if reason:
                skipped["yolov8n"] = reason
            else:
                given = peer.get("seconds")
                if given is None and project:
                    given = found[project[0]]["train_seconds"]
                record("yolov8n", *peer_run(seconds=given, epochs=1 if quick else 300))
    else:
        reason = peer_missing(peer.get("python"))
        if reason:
            raise SystemExit(f"--budget plateau needs YOLOv8n: {reason}")
        record(
            "yolov8n",
            *peer_run(
                seconds=60 if quick else PLATEAU_CAP_SECONDS,
                epochs=2 if quick else 1000,
                patience=PLATEAU_PATIENCE,
            ),
        )
        budget_seconds = found["yolov8n"]["train_seconds"]
        for detector in project:
            # One epoch measured, then as many as fit in the peer's time.
            flags = {**recipe, "epochs": 1}
            probe = run_project(
                detector, root, size, f"{runs}/{detector}-probe", quick, **flags
            )
            flags["epochs"] = max(1, int(budget_seconds // max(probe[0], 1e-3)))
            record(
                detector,
                *run_project(
                    detector, root, size, f"{runs}/{detector}", quick, **flags
                ),
            )
    rows.update(found)
    return {"rows": rows, "skipped": skipped, "image_size": size, "counts": counts}


def format_table(results, budget):
    lines = [
        f"budget: {budget}",
        f"{'set':<15}{'detector':<13}{'mAP@0.5':>9}{'mAP@[.5:.95]':>14}"
        f"{'train s':>9}{'epochs':>8}{'input':>7}",
    ]
    for name, result in results.items():
        for detector, row in result["rows"].items():
            lines.append(
                f"{name:<15}{detector:<13}{row['map50']:>9.3f}{row['map']:>14.3f}"
                f"{row['train_seconds']:>9.0f}{row['epochs'] or '-':>8}"
                f"{row.get('image_size') or '-':>7}"
            )
        for detector, reason in result["skipped"].items():
            lines.append(f"{name:<15}{detector:<13} skipped: {reason}")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.detector_peers",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument(
        "--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS
    )
    parser.add_argument("--budget", default="default", choices=("default", "plateau"))
    parser.add_argument("--quick", action="store_true", help="Tiny sets, minutes.")
    parser.add_argument(
        "--epochs",
        type=int,
        help="The project recipes' epochs under --budget default (their own "
        "default when left out).",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="The project recipes' batch size (their own default when left "
        "out); --batch-size 4 is the dense head's best measured on the shapes.",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        help="The project recipes' learning rate (their own default when left "
        "out); 0.002 is the dense head's best measured on the shapes.",
    )
    parser.add_argument(
        "--peer-option",
        action="append",
        default=[],
        type=parse_peer_option,
        metavar="KEY=VALUE",
        help="An Ultralytics train option for YOLOv8n, such as batch=4 or "
        "nbs=4 (repeat for more); its defaults otherwise.",
    )
    parser.add_argument(
        "--peer-seconds",
        type=float,
        help="YOLOv8n's training time under --budget default (default: the time "
        "the first project detector of --detectors took).",
    )
    parser.add_argument(
        "--folder",
        default=os.path.join("runs", "detector_peers"),
        help="Where the sets and runs are written (sets are reused).",
    )
    parser.add_argument("--out", help="Also write the results as JSON here.")
    parser.add_argument(
        "--peer-python",
        help="The Python that trains YOLOv8n, for Ultralytics kept in an "
        "environment of its own (its opencv-python replaces the contrib build "
        "selective search needs); this one by default.",
    )
    parser.add_argument(
        "--peer-threads",
        type=int,
        help="YOLOv8n's PyTorch threads (default: the machine's cores, as the "
        "project's detectors have); 0: Ultralytics' own default (cores - 1).",
    )
    parser.add_argument("--peer-job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.peer_option = check_peer_options(dict(args.peer_option))
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.peer_job:  # the YOLOv8n process
        found = train_yolov8n(**json.loads(args.peer_job))
        with open(args.out, "w") as f:
            json.dump(found, f)
        return found
    info = machine.describe()
    print(machine.summary_line(info), flush=True)
    recipe = {name: getattr(args, name) for name in RECIPE_FLAGS}
    peer = {
        "python": args.peer_python,
        "options": args.peer_option,
        "seconds": args.peer_seconds,
        "threads": args.peer_threads,
    }
    results = {
        name: benchmark_set(
            name, args.folder, args.budget, args.detectors, args.quick, recipe, peer
        )
        for name in args.sets
    }
    print()
    print(format_table(results, args.budget))
    print(machine.summary_line(info))
    output = {
        "budget": args.budget,
        "quick": args.quick,
        "recipe_flags": recipe,
        "peer_options": peer["options"],
        "results": results,
        "machine": info,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(output, f, indent=1)
    return output


if __name__ == "__main__":
    main()
