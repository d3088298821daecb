"""Export a trained classifier to LiteRT, ONNX or a SavedModel, checked first.

A run's `model.keras` takes raw images of any size; an export takes uint8
images at the network's size (its resize is the one op the edge runtimes
lack, see `components.deploy.edge`) and carries its class names and
preprocessing in `<export>.json` beside it:

    python -m recipes.export runs/classify/RUN --format litert
    python -m recipes.export runs/classify/RUN --format onnx --quantize int8
    python -m recipes.export runs/classify/RUN --format saved_model --out served/

Before it reports success, the export runs in ONNX Runtime or LiteRT in a
child process where TensorFlow cannot be imported, on the run's test images,
and is compared with the Keras model on the same images, by a rule fixed per
quantization (`PARITY`): unquantized, the same class for every image and
scores within 1e-4; fp16, scores within 0.05 and accuracy within 1 point;
int8, accuracy within 1 point. One table gives the format, quantization,
file size, latency per image (median, this machine), parity and accuracy
before and after. A failed check exits 1 naming the worst image; bad input
exits 2 with one line. Detectors do not export yet (one line says so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from components import data
from components.deploy import edge
from recipes.run import flags, reports
from recipes.run.saved import load_model

# The check each quantization must pass, fixed before any export was run.
PARITY = {
    "none": {"max_score_difference": 1e-4, "same_classes": True},
    "fp16": {"max_score_difference": 0.05, "accuracy_points": 1.0},
    "int8": {"accuracy_points": 1.0},
}
EXIT_FAILED = 1

# Runs in the child: TensorFlow made unimportable before anything else.
CHILD = r"""
import sys
if sys.argv[3] != "saved_model":
    sys.modules["tensorflow"] = None  # any import of it now fails
import numpy as np
from components.deploy import runtimes

samples = np.load(sys.argv[2])
model = runtimes.load(sys.argv[1])
scores = model.predict(samples["images"])
np.savez(sys.argv[2] + ".out.npz", scores=scores, latency=model.latency(samples["images"][0]))
print("tensorflow" in sys.modules and sys.modules["tensorflow"] is not None)
"""


def build_parser():
    parser = flags.OneLineParser(
        prog="python -m recipes.export",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="A run directory or a model.keras file.")
    parser.add_argument(
        "--format", default="litert", help=f"One of {', '.join(edge.FORMATS)}."
    )
    parser.add_argument(
        "--quantize",
        default="none",
        help=f"One of {', '.join(edge.QUANTIZATIONS)} (litert and onnx).",
    )
    parser.add_argument(
        "--calibration",
        help="Dataset of the check and of int8's calibration (as --dataset of the "
        "recipes; default: the run's own, its test split checked, its training "
        "split calibrating).",
    )
    parser.add_argument(
        "--out", help="Path of the export (default: RUN/export/model.FORMAT)."
    )
    parser.add_argument(
        "--samples", type=int, default=500, help="Test images checked (default 500)."
    )
    return parser


def sample_images(config, calibration, image_shape, samples):
    """uint8 images at the network's size and their labels: the test split's
    first `samples` and the training split's first calibration images, as
    the training pipeline prepared them."""
    dataset = calibration or config.get("dataset")
    if dataset is None:
        raise ValueError(
            "A model.keras outside its run directory needs --calibration DATASET "
            "(the images to check it on)."
        )
    height, width, channels = image_shape
    splits = data.load(
        dataset,
        image_size=(height, width),
        channels=channels,
        seed=config.get("seed", 0),
        data_dir=config.get("data_dir"),
    )

    def take(split, count):
        images, labels = [], []
        batches = data.make_pipeline(splits.stream(split), 256, cache=False)
        for batch, batch_labels in batches:
            images.append(batch.numpy())
            labels.append(batch_labels.numpy())
            if sum(len(b) for b in labels) >= count:
                break
        pixels = np.concatenate(images)[:count]
        # The pipeline's [0, 1] floats as the raw uint8 an export takes.
        pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype("uint8")
        return pixels, np.concatenate(labels)[:count].astype("int64")

    test = take("test", samples)
    train = take("train", edge.CALIBRATION_IMAGES)
    return test, train[0]


def run_exported(path, fmt, images):
    """The export's scores on `images` and its median latency per image, from
    a child process (TensorFlow unimportable there, but for a SavedModel)."""
    with tempfile.TemporaryDirectory() as folder:
        samples = os.path.join(folder, "samples.npz")
        np.savez(samples, images=images)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(
            [sys.executable, "-c", CHILD, path, samples, fmt],
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"the {fmt} runtime failed on the export: {tail[0]}")
        out = np.load(samples + ".out.npz")
        used_tensorflow = result.stdout.strip().splitlines()[-1] == "True"
        return out["scores"], float(out["latency"]), used_tensorflow


def judge(reference, exported, labels, quantize):
    """The parity figures and whether they pass `PARITY[quantize]`; the worst
    image named when they do not."""
    rule = PARITY[quantize]
    difference = np.abs(reference - exported).max(axis=1)
    same = reference.argmax(1) == exported.argmax(1)
    before = float(np.mean(reference.argmax(1) == labels))
    after = float(np.mean(exported.argmax(1) == labels))
    figures = {
        "max_score_difference": float(difference.max()),
        "same_class_fraction": float(same.mean()),
        "accuracy_before": before,
        "accuracy_after": after,
    }
    failures = []
    if (
        "max_score_difference" in rule
        and difference.max() > rule["max_score_difference"]
    ):
        failures.append(
            f"scores differ by {difference.max():.3g} > "
            f"{rule['max_score_difference']:g}"
        )
    if rule.get("same_classes") and not same.all():
        failures.append(f"{int((~same).sum())} images change class")
    if "accuracy_points" in rule and (before - after) * 100 > rule["accuracy_points"]:
        failures.append(
            f"accuracy {before:.4f} -> {after:.4f} (more than "
            f"{rule['accuracy_points']:g} point lost)"
        )
    worst = int(difference.argmax())
    figures["worst_image"] = {
        "index": worst,
        "keras_scores": reference[worst].round(6).tolist(),
        "export_scores": exported[worst].round(6).tolist(),
    }
    return figures, failures


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    with flags.usage_errors(parser):
        edge.check_export(args.format, args.quantize)
        if args.samples < 1:
            raise ValueError(
                f"Invalid value for --samples: expected a positive integer; "
                f"received {args.samples}."
            )
        model, info, config = load_model(args.model)
        edge_model, metadata = edge.edge_model(model)
        test, calibration = sample_images(
            config, args.calibration, edge_model.input.shape[1:], args.samples
        )
    images, labels = test
    run_dir = args.model if os.path.isdir(args.model) else os.path.dirname(args.model)
    extension = {"litert": "tflite", "onnx": "onnx", "saved_model": "saved_model"}
    out = args.out or os.path.join(
        run_dir,
        "export",
        f"model{'' if args.quantize == 'none' else '_' + args.quantize}."
        f"{extension[args.format]}",
    )
    path = edge.export(
        edge_model, metadata, out, args.format, args.quantize, calibration
    )
    reference = edge_model.predict(images, verbose=0)
    try:
        exported, latency, used_tensorflow = run_exported(path, args.format, images)
    except RuntimeError as error:
        parser.exit(EXIT_FAILED, f"{parser.prog}: check failed: {error}\n")
    figures, failures = judge(reference, exported, labels, args.quantize)
    size = _size(path)
    check = {
        **figures,
        "rule": PARITY[args.quantize],
        "images": int(len(images)),
        "latency_seconds": latency,
        "bytes": size,
        "runtime_imported_tensorflow": used_tensorflow,
        "passed": not failures,
    }
    with open(path + ".json") as f:
        written = json.load(f)
    reports.atomic_write_json(path + ".json", {**written, "check": check})
    print(
        f"{'format':12} {'quantize':8} {'size':>9} {'ms/image':>9} "
        f"{'max |d score|':>13} {'same class':>10} {'accuracy before -> after':>26}"
    )
    print(
        f"{args.format:12} {args.quantize:8} {size / 2**20:>7.2f}MB "
        f"{latency * 1000:>9.2f} {figures['max_score_difference']:>13.2e} "
        f"{figures['same_class_fraction']:>10.3f} "
        f"{figures['accuracy_before']:>12.4f} -> {figures['accuracy_after']:.4f}"
    )
    if failures:
        worst = figures["worst_image"]
        parser.exit(
            EXIT_FAILED,
            f"{parser.prog}: check failed on {len(images)} test images: "
            f"{'; '.join(failures)}; worst: image {worst['index']} (Keras "
            f"{worst['keras_scores'][:4]}..., export {worst['export_scores'][:4]}...). "
            f"The export is at {path}, not to be used.\n",
        )
    reports.report(
        [
            f"export: {path} ({args.format}, quantize {args.quantize}), checked on "
            f"{len(images)} test images: passed",
            f"beside it: {path}.json (class names, input size, preprocessing, the check)",
        ]
    )
    return {"path": path, **check}


def _size(path):
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, names in os.walk(path)
            for name in names
        )
    return os.path.getsize(path)


if __name__ == "__main__":
    main()
