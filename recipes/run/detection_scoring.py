"""Validation and scoring of a detector: timed prediction and decoding, the
validation callback and its best-weights rule, and the COCO files that
pycocotools scores."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from components import detection, serving
from recipes.run.data_parallel import DataParallel
from recipes.run.detection_data import EvaluationSplit, evaluation_split


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


def coco_files(splits, split, boxes, labels, detections):
    """The ground truth and detection rows that `ground_truth.json` and
    `detections.json` hold and pycocotools scores: for a split of image files,
    each image's `file_name` and boxes in its own pixels (as
    `recipes.predict` writes them, so they sit beside the user's own
    annotations); else in the network's input pixels."""
    frames = (splits.originals or {}).get(split)
    if frames is None:
        truth = detection.coco_ground_truth(
            boxes, labels, splits.image_shape, splits.class_names
        )
        return truth, detection.coco_detections(detections)
    if len(frames.files) != len(boxes):
        raise ValueError(
            f"The {split} split holds {len(boxes)} images but its files "
            f"{len(frames.files)}: their boxes cannot go back to the files' pixels."
        )
    own = [
        {"file_name": name, "width": int(width), "height": int(height)}
        for name, (width, height) in zip(frames.names(), frames.sizes)
    ]
    boxes = np.where(labels[..., None] >= 0, frames.to_original(boxes), -1.0)
    truth = detection.coco_ground_truth(
        boxes, labels, splits.image_shape, splits.class_names, images=own
    )
    moved = {**detections, "boxes": frames.to_original(detections["boxes"])}
    return truth, detection.coco_detections(moved)
