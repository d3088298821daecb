"""Validation mAP during training: the best kept, patience, a resume keeps both."""

import math

import keras
import numpy as np
import pytest

from components.callbacks import AtomicBackup
from components.detection import (
    DetectionValidation,
    coco_detections,
    coco_evaluate,
    coco_ground_truth,
)
from components.detection.validation import read_rows

BOXES = np.array([[[2, 2, 12, 12], [16, 16, 30, 30]], [[4, 4, 20, 14], [-1] * 4]])
LABELS = np.array([[0, 1], [1, -1]])
TRUTH = coco_ground_truth(BOXES, LABELS, (32, 32), ["a", "b"])
# The detector's box shift (pixels) after each epoch: the best is epoch 2
# (0-based), worse after it.
SHIFTS = [6.0, 3.0, 0.0, 2.0, 4.0, 5.0, 6.0, 7.0]


def detector(model):
    """Detections of the true boxes shifted by SHIFTS[epoch], the epoch read
    from the optimizer's step count (one step an epoch)."""
    epoch = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) - 1
    boxes = np.where(LABELS[..., None] >= 0, BOXES + SHIFTS[epoch], 0.0)
    return {
        "boxes": boxes.astype("float32"),
        "labels": np.maximum(LABELS, 0).astype("int32"),
        "scores": np.where(LABELS >= 0, 0.9, 0.0).astype("float32"),
        "num_detections": (LABELS >= 0).sum(1).astype("int32"),
    }


def expected_map(epoch):
    return coco_evaluate(TRUTH, coco_detections(detector_at(epoch)))["map"]


def detector_at(epoch):
    class At:
        class optimizer:
            iterations = epoch + 1

    return detector(At)


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def _fit(model, callbacks, epochs):
    x, y = np.ones((4, 2)), np.ones((4, 1))
    return model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)


def test_validation_logs_pycocotools_figures_every_n_epochs_and_the_best():
    model = _model()
    validation = DetectionValidation(detector, TRUTH, every=2)
    history = _fit(model, [validation], 5).history
    # Epochs 2 and 4 (1-based) by `every`, and the last one.
    validated = [i for i, v in enumerate(history["val_map"]) if not math.isnan(v)]
    assert validated == [1, 3, 4]
    for epoch in validated:
        assert history["val_map"][epoch] == pytest.approx(expected_map(epoch))
    assert validation.best_epoch == 3  # epoch 2 itself was never validated
    assert validation.best == pytest.approx(max(expected_map(e) for e in validated))
    assert history["learning_rate"][0] == pytest.approx(0.01)


def test_patience_stops_after_that_many_validations_without_improvement(tmp_path):
    validation = DetectionValidation(
        detector, TRUTH, patience=2, best_path=str(tmp_path / "best.keras")
    )
    history = _fit(_model(), [validation], 8).history
    assert len(history["loss"]) == 5  # best at epoch 3 (1-based), then 2 worse
    assert validation.best_epoch == 2 and validation.stopped_epoch == 5
    assert (tmp_path / "best.keras").exists()


def test_a_killed_and_resumed_run_keeps_its_best_and_its_patience(tmp_path):
    backup_dir, log = str(tmp_path / "backup"), str(tmp_path / "history.csv")

    def callbacks(stop_after=None):
        validation = DetectionValidation(
            detector,
            TRUTH,
            patience=3,
            best_path=str(tmp_path / "best.keras"),
            history_path=log,
        )
        backup = AtomicBackup(backup_dir, history_path=log, delete_on_finish=False)
        found = [
            validation,
            backup,
            keras.callbacks.CSVLogger(log, append=True),
        ]

        class Kill(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == stop_after:
                    raise KeyboardInterrupt

        return validation, found + [Kill()]

    validation, first = callbacks(stop_after=3)  # killed after epoch 4 (1-based)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), first, 8)
    best_before = (tmp_path / "best.keras").stat().st_mtime_ns
    model = _model()
    validation, second = callbacks()
    history = _fit(model, second, 8).history
    # Resumed at epoch 5 (1-based) knowing the best (epoch 3) and the worse
    # validation after it: two more worse ones reach the patience of 3, so
    # it stops after epoch 6 (a count started afresh would stop after 7).
    assert validation.best_epoch == 2
    assert validation.stopped_epoch == 6 and len(history["loss"]) == 2
    assert (tmp_path / "best.keras").stat().st_mtime_ns == best_before
    rows = read_rows(log)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4, 5]
    maps = [float(r["val_map"]) for r in rows]
    np.testing.assert_allclose(maps, [expected_map(e) for e in range(6)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"detect": None}, "detect"),
        ({"ground_truth": [1]}, "ground_truth"),
        ({"every": 0}, "every"),
        ({"patience": -1}, "patience"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"detect": detector, "ground_truth": TRUTH, **kwargs}
    with pytest.raises(ValueError, match=message):
        DetectionValidation(**arguments)
