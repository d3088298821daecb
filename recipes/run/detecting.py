"""Plumbing shared by the detection recipes (YOLO and the R-CNN family).

The flags every detector shares (data, backbone, thresholds), the splits
(digit canvases or TFDS), pycocotools scoring, the gallery and the closing
artifacts and report: the recipes are compared on the same held-out
canvases with the same code, and never import each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from components import data, detection, models, serving
from components.checks import check_positive_int, invalid_value
from recipes.run import flags, reports, training
from recipes.run.data_parallel import DataParallel
from recipes.run.detection_results import (
    best_lines,
    draw_detections,
    draw_panel,
    plot_label_pairs,
    plot_results,
    plot_test_curves,
    write_results,
)

_flag = flags.flag
DATASET_PREFIXES = ("coco:", "yolo:", "tfds:")
CANVAS_OBJECTS = 4  # digits per canvas unless --max-objects says otherwise
# The hard canvases: up to 20 digits, from 1/32 to 3/8 of the canvas side
# (10-120 px at 320), boxes overlapping up to IoU 0.3, textured backgrounds.
HARD = {"objects": 20, "glyph_size": (1 / 32, 3 / 8), "max_iou": 0.3}
CANVASES = ("canvases", "canvases-hard")


@dataclasses.dataclass
class DetectionConfig(training.TrainingConfig):
    """Flags every detection recipe shares (a recipe's `Config` extends it)."""

    dataset: str = _flag(
        "canvases",
        "'canvases' (digits, offline), 'canvases-hard' (up to 20 digits of "
        "widely varying size, overlapping, on textured backgrounds: use "
        "--image-size 336, a multiple of the YOLO grid), "
        "coco:ANNOTATIONS.json[:IMAGES_DIR] "
        "(split at random) or coco:TRAIN.json,VAL.json[,TEST.json] (a file per "
        "split, each may add :IMAGES_DIR), yolo:PATH (images/ + labels/, split "
        "at random) or yolo:PATH[/data.yaml] (Ultralytics' train/val[/test] "
        "splits; without test, val is scored as test too), or tfds:NAME.",
    )
    image_size: int = _flag(112, "Side of the (square) images.")
    train_images: int = _flag(3000, "Training canvases.")
    validation_images: int = _flag(200, "Validation canvases.")
    test_images: int = _flag(500, "Test canvases (handwriting unseen in training).")
    max_objects: int | None = _flag(
        None,
        "Canvases: most digits per canvas (default 4). Files and TFDS: a cap on "
        "the boxes per image used for training, reported with what it drops "
        "(default: none, every box).",
    )
    resize: str = _flag(
        "stretch",
        "coco:/yolo:/tfds: how images meet --image-size: stretch (the aspect "
        "changes) or letterbox (the aspect kept, black bands). The saved model "
        "does the same and maps boxes back into each image's pixels.",
    )
    cache: str = _flag(
        "none",
        "coco:/yolo: images decoded every epoch (none), kept decoded in memory "
        "(ram), or written once decoded to a cache folder reused by later runs "
        "(disk).",
    )
    backbone: str = _flag("vgg", "Backbone builder.")
    width: int = _flag(16, "Width of the backbone.")
    stages: str = _flag("1,1,2,2", "VGG convolutions per stage (comma-separated).")
    score_threshold: float = _flag(0.01, "Lowest score kept for evaluation.")
    iou_threshold: float = _flag(0.5, "IoU above which NMS drops a box.")
    gallery_threshold: float = _flag(0.3, "Lowest score drawn in the gallery.")
    seed: int = _flag(0, "Seed of the canvases, initialization and shuffling.")
    data_dir: str | None = _flag(None, "TFDS data directory.")
    download: bool = _flag(True, "Let TFDS download a missing dataset.")
    verbose: int = _flag(1, "Keras verbosity: 0, 1 or 2.")
    monitors: bool = _flag(False, "Log update ratios and dead units (slower).")
    overfit_subset: int = _flag(
        0,
        "Sanity check: train on N canvases without augmentation and score on "
        "those same N (0: off).",
    )
    val_every: int = _flag(
        1,
        "Score the validation images (mAP, precision, recall) every N epochs "
        "and after the last; the best by mAP@[.5:.95] is saved as best.keras.",
    )
    patience: int | None = _flag(
        None,
        "Stop when mAP@[.5:.95] has not improved for N validations (default: never).",
    )

    def validate_detection(self, positive=()):
        """Checks the shared flags and the recipe's `positive` integer flags."""
        self.validate_training()
        if self.image_size is not None:  # None: chosen from the data at load
            check_positive_int("image_size", self.image_size)
        for name in (
            "train_images",
            "validation_images",
            "test_images",
            "width",
            "val_every",
            *positive,
        ):
            check_positive_int(name, getattr(self, name))
        for name in ("max_objects", "patience"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        data.check_cache(self.cache)
        data.check_resize(self.resize)
        check_positive_int("overfit_subset", self.overfit_subset, 0)
        for name in ("score_threshold", "iou_threshold", "gallery_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    invalid_value(name, getattr(self, name), "a float in [0, 1]")
                )
        if self.backbone not in models.available():
            raise ValueError(
                invalid_value(
                    "backbone", self.backbone, f"one of {', '.join(models.available())}"
                )
            )
        if self.dataset not in CANVASES and not (
            self.dataset.startswith(DATASET_PREFIXES) and self.dataset[5:]
        ):
            raise ValueError(
                invalid_value(
                    "dataset",
                    self.dataset,
                    "'canvases', 'canvases-hard', 'coco:ANNOTATIONS.json[:IMAGES_DIR]' (or one "
                    "per split, comma-separated), 'yolo:PATH[/data.yaml]' or "
                    "'tfds:NAME'",
                )
            )
        parse_stages(self.stages)


def parse_stages(text):
    try:
        stages = tuple(int(v) for v in text.split(","))
    except ValueError:
        stages = ()
    if not stages or min(stages) < 1:
        raise ValueError(
            invalid_value(
                "stages",
                text,
                "positive integers separated by commas, such as '1,1,2,2'",
            )
        )
    return stages


def backbone_options(config):
    """The registry options of the backbone flags."""
    options = {"width": config.width}
    if config.backbone == "vgg":
        options["stages"] = parse_stages(config.stages)
    return options


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_splits(config):
    """The recipe's splits; with `--overfit-subset N`, N training canvases
    serve as training, validation and test data (the notes' first sanity
    check: a detector that cannot reach a high mAP on the few images it is
    trained on has a bug)."""
    splits = _load_splits(config)
    count = config.overfit_subset
    if not count:
        return splits
    if count > splits.sizes["train"]:
        raise ValueError(
            invalid_value(
                "overfit_subset",
                count,
                f"at most the {splits.sizes['train']} training images",
            )
        )
    stream = splits.stream("train")
    index = stream.index.take(count)
    if stream.decode is None:
        index = index.cache()
    index = index.apply(tf.data.experimental.assert_cardinality(count))
    subset = dataclasses.replace(stream, index=index)
    names = ("train", "validation", "test")
    truth = None
    if splits.truth:
        boxes, labels = splits.truth["train"]
        truth = {name: (boxes[:count], labels[:count]) for name in names}
    decoded = subset.decoded()
    return dataclasses.replace(
        splits,
        train=decoded,
        validation=decoded,
        test=decoded,
        sizes={name: count for name in names},
        streams={name: subset for name in names},
        truth=truth,
    )


def _load_splits(config):
    size = config.image_size
    if config.dataset == "canvases":
        return data.load_digit_canvases(
            config.train_images,
            config.validation_images,
            config.test_images,
            canvas_size=size,
            max_objects=config.max_objects or CANVAS_OBJECTS,
            glyph_size=(max(8, size // 6), size * 2 // 5),
            seed=config.seed,
        )
    if config.dataset == "canvases-hard":
        low, high = HARD["glyph_size"]
        return data.load_digit_canvases(
            config.train_images,
            config.validation_images,
            config.test_images,
            canvas_size=size,
            max_objects=config.max_objects or HARD["objects"],
            glyph_size=(max(8, round(size * low)), max(8, round(size * high))),
            seed=config.seed,
            max_iou=HARD["max_iou"],
            background="textured",
        )
    common = {
        "image_size": config.image_size,
        "max_objects": config.max_objects,
        "resize": config.resize,
    }
    if config.dataset.startswith(("coco:", "yolo:")):
        return data.load_detection_files(
            config.dataset,
            seed=config.seed,
            cache=config.cache,
            verbose=min(config.verbose, 1),
            **common,
        )
    return data.load_tfds_detection(
        config.dataset, data_dir=config.data_dir, download=config.download, **common
    )


def report_data(run, splits, count=8):
    """The data summary at load (per split: images, boxes, images without a
    box, the most boxes in an image, boxes cut by the edge, boxes a
    `--max-objects` cap dropped) and `labels.png`: `count` training images
    with the boxes as loaded, to check the labels before a long run."""
    lines = [f"data: {splits.name}, {splits.num_classes} classes"]
    if splits.summary:
        lines += data.summary_lines(splits.summary, run.config.max_objects)
        run.write_json("data_summary.json", splits.summary)
    reports.report(lines)
    plot_examples(
        first_examples(splits, "train", count),
        splits.class_names,
        run.file("labels.png"),
        "training images with their loaded boxes",
    )


def plot_examples(examples, class_names, path, title):
    """Examples (`{"images", "bounding_boxes"}` dicts) drawn with their boxes."""
    images, boxes, labels = [], [], []
    for example in examples:
        images.append(np.asarray(example["images"]))
        boxes.append(np.asarray(example["bounding_boxes"]["boxes"]))
        labels.append(np.asarray(example["bounding_boxes"]["labels"]))
    empty = {"num_detections": np.zeros(len(images), "int32")}
    plot_gallery(images, boxes, labels, empty, 1.0, class_names, path, title=title)


def first_examples(splits, split, count):
    """The first `count` examples of a split, unbatched. The index is cut
    before the examples are cached: a cached in-memory split read only in
    part made tf.data warn, on every run, that it discarded the cache."""
    stream = splits.stream(split)
    first = dataclasses.replace(stream, index=stream.index.take(count))
    return data.stream_examples(first)


GALLERY = 12  # test images drawn in gallery.png


@dataclasses.dataclass
class EvaluationSplit:
    """A split to score, streamed: its images are read batch by batch when
    predicted, never held together.

    Attributes:
        images: Batched `tf.data.Dataset` of the images, in order.
        boxes, labels: Every box of every image (NumPy, padded with -1).
        count: Integer. Number of images.
        gallery: The first `GALLERY` images (NumPy), for `gallery.png`.
        batch_size: Integer. The batch of `images`.
    """

    images: tf.data.Dataset
    boxes: np.ndarray
    labels: np.ndarray
    count: int
    gallery: np.ndarray
    batch_size: int

    def arrays(self):
        """Every image as one NumPy array (for selective search, which runs
        on NumPy images: R-CNN and Fast R-CNN)."""
        return np.concatenate(list(self.images.as_numpy_iterator()))


def evaluation_split(splits, split, batch_size=64):
    """The `EvaluationSplit` of one split. Its boxes are every box of the
    files (`splits.truth`) where the source keeps them, even those a
    `--max-objects` cap left out of the training targets; else they are read
    from the examples' targets (no image held)."""
    examples = data.stream_examples(splits.stream(split))
    images = (
        examples.map(lambda e: e["images"])
        .batch(batch_size)
        .with_options(data.pipeline_options())
    )
    if splits.truth and split in splits.truth:
        boxes, labels = splits.truth[split]
    else:
        targets = examples.map(lambda e: e["bounding_boxes"]).batch(1024)
        found = list(targets.as_numpy_iterator())
        boxes = np.concatenate([t["boxes"] for t in found])
        labels = np.concatenate([t["labels"] for t in found])
    gallery = np.stack(
        [e["images"].numpy() for e in first_examples(splits, split, GALLERY)]
    )
    return EvaluationSplit(images, boxes, labels, len(labels), gallery, batch_size)


def ground_truth(splits, split):
    """All `(images, boxes, labels)` of a split as NumPy arrays; the boxes are
    every box of the files (`splits.truth`) where the source keeps them, even
    those a `--max-objects` cap left out of the training targets."""
    images, boxes, labels = [], [], []
    dataset = data.stream_examples(splits.stream(split))
    for batch in dataset.batch(256).as_numpy_iterator():
        images.append(batch["images"])
        boxes.append(batch["bounding_boxes"]["boxes"])
        labels.append(batch["bounding_boxes"]["labels"])
    if splits.truth and split in splits.truth:
        return np.concatenate(images), *splits.truth[split]
    return np.concatenate(images), np.concatenate(boxes), np.concatenate(labels)


# ---------------------------------------------------------------------------
# Evaluate and report
# ---------------------------------------------------------------------------


def timed(function, *args, **kwargs):
    """`(function(*args, **kwargs), seconds)`."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def timed_predict(model, inputs, batch=64):
    """`model.predict` in batches, timed after a warm-up call that traces
    both batch shapes it will meet (full batches and the last, partial one),
    so that no tracing is counted as inference. Returns `(outputs, seconds)`.

    `inputs` are arrays (a dict of arrays), or an `EvaluationSplit`, whose
    images are read from disk as they are predicted.
    """
    # A `detection.Detector`'s `predict` decodes: its raw outputs are timed.
    predict = getattr(model, "predict_raw", model.predict)
    if isinstance(inputs, EvaluationSplit):
        images, count, batch = inputs.images, inputs.count, inputs.batch_size
        predict(images.take(1), verbose=0)
        if count % batch and count > batch:
            predict(images.skip(count // batch), verbose=0)
        return timed(predict, images, verbose=0)
    count = len(tf.nest.flatten(inputs)[0])
    warm = min(count, batch + count % batch)
    predict(
        tf.nest.map_structure(lambda v: v[:warm], inputs), batch_size=batch, verbose=0
    )
    return timed(predict, inputs, batch_size=batch, verbose=0)


def decode_in_batches(decode, outputs, batch=64):
    """Post-processing timed apart: `decode` (a `tf.function` over a batch of
    raw outputs, an array or a dict of arrays) is traced on a first batch,
    then run over every batch. Returns `(detections as NumPy, seconds)`."""

    def part(start):
        return tf.nest.map_structure(lambda v: v[start : start + batch], outputs)

    decode(part(0))
    count = len(tf.nest.flatten(outputs)[0])
    parts, seconds = timed(lambda: [decode(part(i)) for i in range(0, count, batch)])
    detections = {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
    return detections, seconds


def plot_gallery(
    images,
    boxes,
    labels,
    detections,
    threshold,
    class_names,
    path,
    title="green: ground truth; red: detections",
):
    """Test images with true boxes (green) and detections (red, label:score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(12, len(images))
    fig, axes = plt.subplots(3, 4, figsize=(12, 9))
    for index, panel in enumerate(axes.flat):
        panel.axis("off")
        if index < count:
            draw_panel(panel, images[index], boxes[index], labels[index])
            draw_detections(panel, detections, index, threshold, class_names)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@dataclasses.dataclass
class Validation:
    """Validation while training: the callback and the split it scores."""

    callback: detection.DetectionValidation
    split: EvaluationSplit


def validation(run, splits, detect, served):
    """The run's `Validation`: every `--val-every` epochs `detect(model,
    split)` on the validation split is scored with pycocotools, the best by
    mAP@[.5:.95] saved as `best.keras` (`served`, the serving model sharing
    the trained layers), `--patience` applied."""
    # At the training batch, scoring holds no larger activations than
    # training did: at 64 a validation pass at 16k images added 160 MiB to
    # the run's peak, at 16 (the YOLO default) 51 (benchmarks.data_scale).
    split = evaluation_split(splits, "validation", run.config.batch_size)
    truth = detection.coco_ground_truth(
        split.boxes, split.labels, splits.image_shape, splits.class_names
    )

    def detect_now(model):
        if isinstance(run.strategy, DataParallel):
            # Every process scores the whole split itself.
            with run.strategy.undistributed():
                return detect(model, split)
        return detect(model, split)

    callback = detection.DetectionValidation(
        detect_now,
        truth,
        every=run.config.val_every,
        patience=run.config.patience,
        best_path=run.file("best.keras"),
        best_model=served,
        history_path=run.file("history.csv"),
    )
    return Validation(callback, split)


@contextlib.contextmanager
def best_weights(run, network, validation=None):
    """The test split is scored as Ultralytics scores best.pt.

    Inside, `network` (the decoding model that best.keras serves) holds the
    best validation epoch's weights, read back from best.keras, and
    `validation`'s last detections are that model's (for
    `val_predictions.png`); after, the last epoch's weights again, from
    which model.keras is saved. Yields the name of the model scored:
    `"best.keras"`, or `"model.keras"` where no validation saved one.
    """
    path = run.file("best.keras")
    if not os.path.isfile(path):
        yield "model.keras"
        return
    saved = keras.saving.load_model(path, safe_mode=True)
    last = network.get_weights()
    network.set_weights(serving.serving_info(saved)["network"].get_weights())
    try:
        callback = validation.callback if validation is not None else None
        if callback is not None and callback.detections_epoch != callback.best_epoch:
            callback.evaluate()
            callback.detections_epoch = callback.best_epoch
        yield "best.keras"
    finally:
        network.set_weights(last)


def finish(
    run,
    splits,
    model,
    test,
    detections,
    *,
    extra,
    curves,
    title,
    validation=None,
    scored="model.keras",
):
    """Scores the detections with pycocotools, writes every artifact, reports.

    Args:
        run: The `run.Run`.
        splits: `DetectionSplits`.
        model: The trained model, decoding included (saved as `model.keras`
            behind raw-image preprocessing, with the class names).
        test: The test split's `EvaluationSplit`.
        detections: Dict of `decode_predictions` arrays for the test images,
            from the model `scored` names (see `best_weights`).
        extra: Dict of recipe figures (timings...) added to `metrics.json`.
        curves: History keys to plot in `curves.png`.
        title: Name of the detector in the report.
        validation: Optional `Validation` of the training: `results.csv`,
            `results.png`, `val_predictions.png` and the best epoch.
        scored: `"best.keras"` or `"model.keras"`: the saved model whose
            test detections these are (`metrics.json`'s `scored_model`).

    Returns:
        The metrics dict (also in `metrics.json`).
    """
    boxes, labels = test.boxes, test.labels
    truth = detection.coco_ground_truth(
        boxes, labels, splits.image_shape, splits.class_names
    )
    rows = detection.coco_detections(detections)
    scores = detection.coco_evaluate(truth, rows)
    extra = {**extra, "train_seconds": round(run.train_seconds, 1)}
    metrics = {
        "dataset": splits.name,
        "map50": scores["map50"],
        "map": scores["map"],
        "map75": scores["map75"],
        "per_class_ap50": scores["per_class_ap50"],
        "per_class_ap": scores["per_class_ap"],
        "scored_model": scored,
        "test_images": int(test.count),
        "test_objects": int((labels >= 0).sum()),
        "epochs": run.config.epochs,
        "parameters": int(model.count_params()),
        **extra,
    }
    run.write_json("ground_truth.json", truth)
    run.write_json("detections.json", rows)
    operating = plot_test_curves(truth, rows, run.file)
    metrics["precision"] = round(float(operating["precision_at_best"]), 5)
    metrics["recall"] = round(float(operating["recall_at_best"]), 5)
    metrics["by_size"] = detection.ap_by_size(truth, rows)
    lines = [size_line(metrics["by_size"])]
    if validation is not None:
        lines += _validation_files(run, splits, validation)
        callback = validation.callback
        if callback.best_epoch is not None:
            metrics["best"] = {"epoch": callback.best_epoch + 1, **callback.best_logs}
    history = reports.read_history(run.file("history.csv"))
    reports.plot_histories([history], run.file("curves.png"), f"{title} loss", curves)
    plot_gallery(
        test.gallery,
        boxes,
        labels,
        detections,
        run.config.gallery_threshold,
        splits.class_names,
        run.file("gallery.png"),
    )
    timing = ", ".join(
        f"{key.replace('_', ' ')} {value}"
        for key, value in extra.items()
        if "per_" in key or key.endswith("seconds")
    )
    # Saved for use: raw uint8 images of any size in, boxes in their pixels.
    served = serving.detector_serving_model(
        model, splits.class_names, resize=run.config.resize
    )
    return run.finish(
        metrics,
        model=served,
        lines=[
            title,
            f"mAP@0.5: {metrics['map50']:.4f}   mAP@[.5:.95]: {metrics['map']:.4f}"
            f"   ({scored} on the test images)",
            "AP@0.5 per class: "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores["per_class_ap50"].items()),
            timing,
            *lines,
        ],
    )


def size_line(by_size):
    """The report's line of `ap_by_size`: which sizes the detector misses.

    Example:

    >>> print(size_line({"under_16_px": {"objects": 2, "ap50": 0.5},
    ...                  "over_16_px": {"objects": 0, "ap50": None}}))
    AP@0.5 by object size (square root of its area): under 16 px 0.500 (2 objects), over 16 px - (0 objects)
    """
    parts = []
    for name, group in by_size.items():
        value = "-" if group["ap50"] is None else f"{group['ap50']:.3f}"
        words = name.replace("_px", " px").replace("_", " ", 1)
        if words[0].isdigit():  # "16_32 px" reads "16-32 px"
            words = words.replace(" ", "-", 1)
        parts.append(f"{words} {value} ({group['objects']} objects)")
    return "AP@0.5 by object size (square root of its area): " + ", ".join(parts)


def _validation_files(run, splits, validation):
    """results.csv, results.png and val_predictions.png; the report's lines."""
    callback = validation.callback
    rows = write_results(run.file("history.csv"), run.file("results.csv"))
    plot_results(rows, run.file("results.png"), callback.best_epoch)
    if callback.detections is not None:
        plot_label_pairs(
            validation.split,
            callback.detections,
            run.config.gallery_threshold,
            splits.class_names,
            run.file("val_predictions.png"),
        )
    return best_lines(callback)
