"""Export a trained classifier or YOLO to LiteRT, ONNX or a SavedModel, checked first.

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
before and after. Detectors (YOLO, Faster R-CNN) export with their decoding
and suppression inside, in the runtimes' builtin ops, and are checked by
`DETECTOR_PARITY`: detections matched one to one at IoU >= 0.9, or, where
two candidates of a class had the same score (NMS may keep either), by
class and score. R-CNN and Fast R-CNN (regions from selective search
outside the network) are refused with one line saying why. A failed check exits 1 naming the worst image;
bad input exits 2 with one line.
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
from components.checks import check_positive_int
from components.deploy import edge
from recipes.run import flags, reports
from recipes.run.saved import load_model

# The check each quantization must pass, fixed before any export was run.
PARITY = {
    "none": {"max_score_difference": 1e-4, "same_classes": True},
    "fp16": {"max_score_difference": 0.05, "accuracy_points": 1.0},
    "int8": {"accuracy_points": 1.0},
}
# Detectors: detections matched one to one (same class, IoU >= 0.9) with
# the saved model's own decoding, or mAP@0.5 within a point when quantized.
DETECTOR_PARITY = {
    "none": {
        "match_iou": 0.9,
        "all_matched": True,
        "max_score_difference": 1e-3,
        # Faster R-CNN's RoI max pooling gives two near proposals the same
        # features, so the same score to the last bit: which of them NMS
        # keeps is arbitrary (TensorFlow's combined NMS and the export's
        # builtin one chose differently, one detection in 211). Such a pair
        # (same class, scores this close) counts as matched, and is counted.
        "tie_score": 1e-6,
    },
    "fp16": {"map50_points": 1.0},
    "int8": {"map50_points": 1.0},
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
found = model.predict(samples["images"])
found = found if isinstance(found, dict) else {"scores": found}
np.savez(sys.argv[2] + ".out.npz", **found, latency=model.latency(samples["images"][0]))
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


def as_uint8(images):
    """A pipeline's images as the raw uint8 an export takes ([0, 1] floats
    scaled; uint8 as they are)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype("uint8")


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
        pixels = as_uint8(np.concatenate(images)[:count])
        return pixels, np.concatenate(labels)[:count].astype("int64")

    test = take("test", samples)
    train = take("train", edge.CALIBRATION_IMAGES)
    return test, train[0]


def detection_samples(config, image_shape, samples):
    """A YOLO run's test images (uint8, at the network's size) with every
    box of them, and its first training images for calibration."""
    import types

    from recipes.run import detecting

    if not config:
        raise ValueError(
            "A detector's model.keras outside its run directory cannot be checked: "
            "pass its run directory (its config.json names the data)."
        )
    settings = {"verbose": 0, "cache": "none", "overfit_subset": None, **config}
    splits = detecting.load_splits(types.SimpleNamespace(**settings))

    test = detecting.evaluation_split(splits, "test")
    images = as_uint8(np.concatenate(list(test.images.take(-(-samples // 64)))))[
        :samples
    ]
    boxes, labels = test.boxes[: len(images)], test.labels[: len(images)]
    train = detecting.evaluation_split(splits, "train")
    first = train.images.take(-(-edge.CALIBRATION_IMAGES // 64))
    calibration = as_uint8(np.concatenate(list(first)))[: edge.CALIBRATION_IMAGES]
    return (images, (boxes, labels, splits.class_names)), calibration


def _match_image(reference, exported, i, rule):
    """One image's detections paired one to one: `(pairs, missed)`,
    pairs `(j, k, tied)` of the reference's `j` and the export's `k`."""
    from keras.utils import bounding_boxes

    ours = int(reference["num_detections"][i])
    theirs = int(exported["num_detections"][i])
    iou = np.full((ours, theirs), -1.0)
    if ours and theirs:
        iou = np.asarray(
            bounding_boxes.compute_iou(
                reference["boxes"][i][:ours], exported["boxes"][i][:theirs], "xyxy"
            )
        )
    same = reference["labels"][i][:ours, None] == exported["labels"][i][None, :theirs]
    iou = np.where(same, iou, -1.0)
    pairs, missed = [], []
    for j in range(ours):  # in the saved model's score order
        k = int(iou[j].argmax()) if theirs else -1
        if k < 0 or iou[j, k] < rule.get("match_iou", 0.9):
            missed.append(j)
            continue
        iou[:, k] = -1.0  # taken
        pairs.append((j, k, False))
    tie = rule.get("tie_score")
    for j in list(missed) if tie is not None else []:
        taken = {k for _, k, _ in pairs}
        gaps = np.abs(exported["scores"][i][:theirs] - reference["scores"][i][j])
        free = [k for k in range(theirs) if k not in taken and same[j, k]]
        tied = [k for k in free if gaps[k] <= tie]
        if tied:
            pairs.append((j, tied[0], True))
            missed.remove(j)
    return pairs, missed


def judge_detections(reference, exported, truth, image_shape, quantize):
    """Detections matched one to one per image (same class, IoU, scores),
    and mAP@0.5 of both on the test images (pycocotools)."""
    from components import detection

    rule = DETECTOR_PARITY[quantize]
    matched = total = ties = 0
    unmatched, extra, gaps = [], [], []
    for i in range(len(reference["num_detections"])):
        ours = int(reference["num_detections"][i])
        theirs = int(exported["num_detections"][i])
        total += max(ours, theirs)
        pairs, missed = _match_image(reference, exported, i, rule)
        matched += len(pairs)
        ties += sum(tied for _, _, tied in pairs)
        for j, k, _ in pairs:
            gap = abs(float(reference["scores"][i][j] - exported["scores"][i][k]))
            gaps.append((gap, i, j))
        unmatched += [
            {"index": i, "detection": j, "reason": "unmatched"} for j in missed
        ]
        if theirs > ours:
            extra.append(
                {"index": i, "detection": ours, "reason": "an extra detection"}
            )
    worst_difference = max(gaps)[0] if gaps else 0.0
    if unmatched or extra:
        worst = (unmatched + extra)[0]
    elif gaps:
        gap, i, j = max(gaps)
        worst = {"index": i, "detection": j, "reason": f"score differs by {gap:.3g}"}
    else:
        worst = {"index": 0, "reason": "none"}
    boxes, labels, class_names = truth
    gt = detection.coco_ground_truth(boxes, labels, image_shape, class_names)
    before = detection.coco_evaluate(gt, detection.coco_detections(reference))["map50"]
    after = detection.coco_evaluate(gt, detection.coco_detections(exported))["map50"]
    figures = {
        "matched_fraction": matched / total if total else 1.0,
        "matched_at_a_tie": ties,
        "detections": total,
        "max_score_difference": worst_difference,
        "map50_before": float(before),
        "map50_after": float(after),
        "worst_image": worst,
    }
    failures = []
    if rule.get("all_matched") and matched < total:
        failures.append(f"{total - matched} of {total} detections unmatched")
    if worst_difference > rule.get("max_score_difference", np.inf):
        failures.append(f"scores differ by {worst_difference:.3g}")
    if (before - after) * 100 > rule.get("map50_points", np.inf):
        failures.append(f"mAP@0.5 {before:.4f} -> {after:.4f}")
    return figures, failures


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
        out = dict(np.load(samples + ".out.npz"))
        latency = float(out.pop("latency"))
        used_tensorflow = result.stdout.strip().splitlines()[-1] == "True"
        return (out if len(out) > 1 else out["scores"]), latency, used_tensorflow


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


def default_out(args):
    """`--out`, else `RUN/export/model[_QUANTIZE].FORMAT`."""
    if args.out:
        return args.out
    run_dir = args.model if os.path.isdir(args.model) else os.path.dirname(args.model)
    extension = {"litert": "tflite", "onnx": "onnx", "saved_model": "saved_model"}
    suffix = "" if args.quantize == "none" else "_" + args.quantize
    return os.path.join(run_dir, "export", f"model{suffix}.{extension[args.format]}")


def keras_reference(model, info, edge_model, images, detector):
    """What Keras answers on `images`: a classifier's edge model, or the
    saved detector's own decoding (TensorFlow's combined NMS), which the
    export's builtin-op suppression must reproduce."""
    if not detector:
        return edge_model.predict(images, verbose=0)
    scale = edge._preprocessing(model).scale
    found = info["network"].predict(
        images.astype("float32") * scale, batch_size=64, verbose=0
    )
    return {key: np.asarray(value) for key, value in found.items()}


def judge_export(reference, exported, labels, shape, quantize, detector):
    """The figures, the failed conditions and the parity rule they answer to."""
    if detector:
        figures, failures = judge_detections(
            reference, exported, labels, shape, quantize
        )
        return figures, failures, DETECTOR_PARITY[quantize]
    figures, failures = judge(reference, exported, labels, quantize)
    return figures, failures, PARITY[quantize]


def record_check(path, check):
    """Adds the check to the metadata written beside the export."""
    with open(path + ".json") as f:
        written = json.load(f)
    reports.atomic_write_json(path + ".json", {**written, "check": check})


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    with flags.usage_errors(parser):
        edge.check_export(args.format, args.quantize)
        check_positive_int("samples", args.samples)
        model, info, config = load_model(args.model)
        edge_model, metadata = edge.edge_model(model)
        shape = edge_model.input.shape[1:]
        detector = metadata["kind"] == "detector"
        if detector:
            test, calibration = detection_samples(config, shape, args.samples)
        else:
            test, calibration = sample_images(
                config, args.calibration, shape, args.samples
            )
    images, labels = test
    path = edge.export(
        edge_model, metadata, default_out(args), args.format, args.quantize, calibration
    )
    reference = keras_reference(model, info, edge_model, images, detector)
    try:
        exported, latency, used_tensorflow = run_exported(path, args.format, images)
    except RuntimeError as error:
        parser.exit(EXIT_FAILED, f"{parser.prog}: check failed: {error}\n")
    figures, failures, rule = judge_export(
        reference, exported, labels, shape, args.quantize, detector
    )
    size = _size(path)
    check = {
        **figures,
        "rule": rule,
        "images": int(len(images)),
        "latency_seconds": latency,
        "bytes": size,
        "runtime_imported_tensorflow": used_tensorflow,
        "passed": not failures,
    }
    record_check(path, check)
    print(table(args.format, args.quantize, size, latency, figures, detector))
    if failures:
        worst = figures["worst_image"]
        parser.exit(
            EXIT_FAILED,
            f"{parser.prog}: check failed on {len(images)} test images: "
            f"{'; '.join(failures)}; worst: image {worst['index']} "
            f"({_worst_text(worst)}). The export is at {path}, not to be used.\n",
        )
    reports.report(
        [
            f"export: {path} ({args.format}, quantize {args.quantize}), checked on "
            f"{len(images)} test images: passed",
            f"beside it: {path}.json (class names, input size, preprocessing, the check)",
        ]
    )
    return {"path": path, **check}


def _worst_text(worst):
    if "keras_scores" in worst:
        return (
            f"Keras {worst['keras_scores'][:4]}..., "
            f"export {worst['export_scores'][:4]}..."
        )
    return f"detection {worst.get('detection', 0)}: {worst['reason']}"


def table(fmt, quantize, size, latency, figures, detector):
    """The check's one-row table."""
    if detector:
        head = f"{'matched':>8} {'max |d score|':>13} {'mAP@0.5 before -> after':>24}"
        row = (
            f"{figures['matched_fraction']:>8.3f} "
            f"{figures['max_score_difference']:>13.2e} "
            f"{figures['map50_before']:>11.4f} -> {figures['map50_after']:.4f}"
        )
    else:
        head = (
            f"{'max |d score|':>13} {'same class':>10} {'accuracy before -> after':>26}"
        )
        row = (
            f"{figures['max_score_difference']:>13.2e} "
            f"{figures['same_class_fraction']:>10.3f} "
            f"{figures['accuracy_before']:>12.4f} -> {figures['accuracy_after']:.4f}"
        )
    return (
        f"{'format':12} {'quantize':8} {'size':>9} {'ms/image':>9} {head}\n"
        f"{fmt:12} {quantize:8} {size / 2**20:>7.2f}MB {latency * 1000:>9.2f} {row}"
    )


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
