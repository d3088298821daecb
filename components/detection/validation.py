"""Validation mAP while a detector trains: the best model kept, a patience stop."""

from __future__ import annotations

import csv
import math
import os

import keras
import numpy as np

from components.checks import check_positive_int, invalid_value
from components.detection.coco_eval import coco_detections, coco_evaluate
from components.detection.curves import operating_curves

# The figures each validation adds to the epoch logs (NaN on an epoch not
# validated, so that a CSV log has the same columns on every row).
KEYS = ("val_precision", "val_recall", "val_map50", "val_map")


class DetectionValidation(keras.callbacks.Callback):
    """Scores a detector on its validation images with pycocotools during `fit`.

    Every `every` epochs (and after the last), `detect(model)` gives the
    detections of every validation image, which pycocotools scores against
    `ground_truth`: an image with no detection counts its objects as missed,
    a detection on an image with no object as a false positive. The epoch
    logs gain `val_map` (mAP@[.5:.95]), `val_map50`, and the precision and
    recall at the confidence that maximises the mean F1 over classes (the
    figures Ultralytics reports), plus the optimizer's `learning_rate`; an
    epoch that is not validated logs NaN for them.

    When `val_map` improves, `best_model` (the model itself unless given,
    such as a serving model sharing its layers) is saved to `best_path`,
    written aside and renamed so that the file is always whole. With
    `patience` N, training stops after N validations without improvement
    (`stopped_epoch` then says where, as in Keras's `EarlyStopping`).

    The best so far is read back from `history_path` (the CSV log of the
    epochs already run, which `AtomicBackup` rebuilds on resume) when an
    epoch starts, so a resumed run keeps its best and its patience count.
    Place this callback before the CSV logger and the backup, which record
    the logs it adds.

    Args:
        detect: Callable `detect(model)` returning the validation images'
            detections: a dict of arrays `boxes` `(n, k, 4)` ("xyxy"
            pixels), `labels`, `scores` and `num_detections`, in the order
            of `ground_truth`'s images.
        ground_truth: COCO dataset dict of the validation images
            (`coco_ground_truth`).
        every: Positive integer. Validate every `every` epochs.
        patience: Positive integer or `None` (never stop early).
        best_path: Optional string. Where the best model is saved.
        best_model: Optional `keras.Model` saved there (default: the model
            being trained).
        history_path: Optional string. The CSV log of earlier epochs.

    Example:

    >>> import keras, numpy as np
    >>> from components.detection import coco_ground_truth
    >>> truth = coco_ground_truth([[[0, 0, 8, 8]]], [[0]], (16, 16), ["a"])
    >>> def detect(model):  # a perfect detector
    ...     return {"boxes": np.array([[[0, 0, 8, 8]]], "float32"),
    ...             "labels": np.zeros((1, 1), "int32"),
    ...             "scores": np.ones((1, 1), "float32"),
    ...             "num_detections": np.ones(1, "int32")}
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> validation = DetectionValidation(detect, truth)
    >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2,
    ...                     verbose=0, callbacks=[validation])
    >>> round(history.history["val_map"][-1], 6), validation.best_epoch
    (1.0, 0)
    """

    def __init__(
        self,
        detect,
        ground_truth,
        every=1,
        patience=None,
        best_path=None,
        best_model=None,
        history_path=None,
    ):
        super().__init__()
        if not callable(detect):
            raise ValueError(invalid_value("detect", detect, "a callable(model)"))
        if not isinstance(ground_truth, dict) or "annotations" not in ground_truth:
            raise ValueError(
                invalid_value(
                    "ground_truth", type(ground_truth).__name__, "a COCO dataset dict"
                )
            )
        check_positive_int("every", every)
        if patience is not None:
            check_positive_int("patience", patience)
        self.detect, self.ground_truth = detect, ground_truth
        self.every, self.patience = every, patience
        self.best_path, self.best_model = best_path, best_model
        self.history_path = history_path
        self.best, self.best_epoch, self.best_logs = -math.inf, None, {}
        self.wait, self.stopped_epoch = 0, 0
        self.detections = None  # of the last validation
        self.detections_epoch = None  # its epoch
        self._read = False

    def on_train_begin(self, logs=None):
        self._read = False

    def on_epoch_begin(self, epoch, logs=None):
        # At the first epoch, not at train begin: by then the backup has
        # rebuilt the CSV log of a resumed run (it comes later in the list).
        if not self._read:
            self._read = True
            self.best, self.best_epoch, self.best_logs, self.wait = (
                -math.inf,
                None,
                {},
                0,
            )
            for row in read_rows(self.history_path):
                self._track(int(row["epoch"]), row, save=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        epochs = (self.params or {}).get("epochs", 0)
        due = (epoch + 1) % self.every == 0 or epoch + 1 >= epochs
        scores = dict.fromkeys(KEYS, math.nan)
        if due:
            scores = self.evaluate()
            self.detections_epoch = epoch
        logs.update(scores)
        logs["learning_rate"] = _learning_rate(self.model)
        self._track(epoch, logs, save=True)
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True

    def evaluate(self):
        """The validation figures of the model as it is now (`KEYS`)."""
        self.detections = self.detect(self.model)
        rows = coco_detections(self.detections)
        scores = coco_evaluate(self.ground_truth, rows)
        curves = operating_curves(self.ground_truth, rows)
        return {
            "val_precision": float(curves["precision_at_best"]),
            "val_recall": float(curves["recall_at_best"]),
            "val_map50": scores["map50"],
            "val_map": scores["map"],
        }

    def _track(self, epoch, logs, save):
        value = _float(logs.get("val_map"))
        if math.isnan(value):
            return
        if value > self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_logs = {k: _float(logs.get(k)) for k in KEYS}
            if save and self.best_path:
                self._save()
        else:
            self.wait += 1

    def _save(self):
        model = self.best_model if self.best_model is not None else self.model
        folder, name = os.path.split(self.best_path)
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
        model.save(tmp)
        os.replace(tmp, self.best_path)


def read_rows(path):
    """The rows of a CSV epoch log (as dicts of strings); none if no file."""
    if not path or not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return math.nan
    return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
