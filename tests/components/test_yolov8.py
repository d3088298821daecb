"""The YOLOv8-class network, its distribution focal loss and decoding, the
detector object, the weight averaging and the time budget."""

import math

import keras
import numpy as np
import pytest

from components.callbacks import TimeBudget, WeightAveraging
from components.detection import Detector, TaskAlignedLoss
from components.detection.dense_model import location_points
from components.detection.yolov8 import (
    DistributionBoxes,
    expected_distance,
    yolov8_detector,
)

TINY = {"width": 0.0625}  # 8-channel stages: every part, few weights


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.backend_independent
def test_yolov8n_has_ultralytics_parameter_count():
    # Ultralytics' model summary: "YOLOv8n ... 3157200 parameters" at 80
    # classes, counting its DFL layer's 16 fixed weights (0..15, a frozen
    # 1x1 convolution; here `expected_distance` holds them as a constant).
    # Keras also counts batch norm's moving statistics, which are not
    # trainable: the trainable count is the comparable one.
    net = yolov8_detector((640, 640, 3), 80, size="n")
    trainable = sum(int(np.prod(w.shape)) for w in net.trainable_weights)
    assert trainable + 16 == 3_157_200
    assert net.output.shape[1] == 80 * 80 + 40 * 40 + 20 * 20


def test_decoded_boxes_are_the_distributions_expectations():
    bins, rows, cols, classes = 6, 2, 3, 2
    raw = np.random.default_rng(0).normal(0, 2, (2, rows, cols, 4 * bins + classes))
    out = np.asarray(DistributionBoxes(bins)(raw.astype("float32")))
    points = location_points((rows, cols), [(rows, cols)])
    flat = raw.reshape(2, rows * cols, -1)
    for image in range(2):
        for n in range(rows * cols):
            sides = _softmax(flat[image, n, : 4 * bins].reshape(4, bins))
            d = (sides * np.arange(bins)).sum(-1)  # left, top, right, bottom
            x, y = points[n, 0], points[n, 1]
            box = [x - d[0] / cols, y - d[1] / rows, x + d[2] / cols, y + d[3] / rows]
            np.testing.assert_allclose(out[image, n, :4], box, atol=1e-5)
            np.testing.assert_allclose(
                out[image, n, 4 : 4 + classes], flat[image, n, 4 * bins :], atol=1e-6
            )
            np.testing.assert_allclose(
                out[image, n, 4 + classes :], flat[image, n, : 4 * bins], atol=1e-6
            )


def test_expected_distance_of_a_one_hot_distribution_is_its_bin():
    logits = np.full((1, 4 * 5), -60.0, "float32")
    for side, index in enumerate((0, 2, 4, 3)):
        logits[0, side * 5 + index] = 60.0
    np.testing.assert_allclose(expected_distance(logits, 5)[0], [0, 2, 4, 3], atol=1e-5)


def test_distribution_focal_loss_against_its_formula():
    # One location of a 2x2 grid with an object around it: the loss's
    # distribution term must be the formula's, computed here by hand.
    bins, classes = 8, 1
    rng = np.random.default_rng(1)
    loss = TaskAlignedLoss((64, 64), [(2, 2)], classes, bins=bins, top_k=1)
    box = np.array([0.05, 0.1, 0.6, 0.45], "float32")  # around centre (.25, .25)
    raw = rng.normal(0, 1, (1, 4, 4 + classes + 4 * bins)).astype("float32")
    raw[0, :, :4] = box  # every predicted box is the object's
    focal = np.asarray(loss.distribution_focal_loss(raw, np.tile(box, (1, 4, 1))))
    x, y = 0.25, 0.25
    sides = np.array(
        [(x - box[0]) * 2, (y - box[1]) * 2, (box[2] - x) * 2, (box[3] - y) * 2]
    )
    logits = raw[0, 0, 4 + classes :].reshape(4, bins)
    log_p = np.log(_softmax(logits.astype("float64")))
    expected = 0.0
    for side, d in enumerate(np.clip(sides, 0, bins - 1.01)):
        i = int(math.floor(d))
        expected += -((i + 1 - d) * log_p[side, i] + (d - i) * log_p[side, i + 1])
    np.testing.assert_allclose(focal[0, 0], expected / 4, rtol=1e-5)
    # Its minimum over distributions puts the expectation at the distance.
    terms = loss.terms(np.array([[[*box, 0.0]]], "float32"), raw)
    assert set(terms) == {"classes", "boxes", "distributions"}
    assert float(np.asarray(terms["distributions"])[0]) > 0


def test_distribution_focal_loss_is_least_where_the_expectation_is_the_distance():
    bins = 8
    loss = TaskAlignedLoss((64, 64), [(1, 1)], 1, bins=bins)
    distances = (2.3, 1.0, 0.7, 4.5)
    left, top, right, bottom = distances
    target = np.array([[[0.5 - left, 0.5 - top, 0.5 + right, 0.5 + bottom]]], "float32")

    # Two-bin distributions at floor(d), floor(d) + 1 weighted as the formula
    # says, against the same two weights moved one bin up.
    def case(shift):
        logits = np.full((4, bins), -30.0)
        for side, d in enumerate(distances):
            low = int(d)
            logits[side, low + shift] = np.log(max(low + 1 - d, 1e-9))
            logits[side, low + 1 + shift] = np.log(max(d - low, 1e-9))
        raw = np.concatenate([[0, 0, 1, 1, 0], logits.ravel()]).astype("float32")
        return float(
            np.asarray(loss.distribution_focal_loss(raw[None, None], target))[0, 0]
        )

    assert case(0) < case(1)


def test_detector_saves_loads_and_predicts_the_same_detections(tmp_path):
    keras.utils.set_random_seed(0)
    detector = Detector.create("yolov8", (64, 64, 3), 3, score_threshold=0.001, **TINY)
    images = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    before = detector.predict(images, verbose=0)
    assert sorted(before) == ["boxes", "labels", "num_detections", "scores"]
    assert before["num_detections"].min() > 0
    path = str(tmp_path / "detector.keras")
    detector.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, Detector) and loaded.kind == "yolov8"
    after = loaded.predict(images, verbose=0)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-5)
    # The decoding as a layer gives the same: what serving and export use
    # (TensorFlow graphs: the layer's suppression is TensorFlow's).
    if keras.backend.backend() == "tensorflow":
        layered = detector.inference_model().predict(images, verbose=0)
        np.testing.assert_allclose(layered["boxes"], before["boxes"], atol=1e-4)


@pytest.mark.parametrize("kind", ["v1", "dense", "yolov8"])
def test_each_kind_owns_targets_loss_and_decoding(kind):
    options = {
        "v1": {"width": 4, "stages": (1, 1, 1), "grid_size": 4},
        "dense": {"width": 4, "stages": (1, 1, 1, 1)},
        "yolov8": TINY,
    }[kind]
    detector = Detector.create(kind, (64, 64, 3), 2, **options)
    boxes = np.array([[[4.0, 8.0, 30.0, 40.0], [0, 0, 0, 0]]], "float32")
    targets = np.asarray(detector.targets(boxes, np.array([[1, -1]])))
    raw = detector.predict_raw(np.zeros((1, 64, 64, 3)), verbose=0)
    terms = detector.loss_terms(targets, raw)
    assert all(np.isfinite(v).all() for v in terms.values())
    assert ("distributions" in terms) == (kind == "yolov8")
    assert "x" in str(detector.describe())


def test_bad_kind_and_thresholds_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="kind"):
        Detector.create("v9", (64, 64, 3), 2)
    with pytest.raises(ValueError, match="iou_threshold"):
        Detector.create("yolov8", (64, 64, 3), 2, iou_threshold=2.0, **TINY)
    with pytest.raises(ValueError, match="input_shape"):
        yolov8_detector((100, 100, 3), 2)
    with pytest.raises(ValueError, match="size"):
        yolov8_detector((64, 64, 3), 2, size="x")


def test_weight_averaging_matches_a_hand_computed_average():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(6, 2)).astype("float32")
    y = x.sum(-1, keepdims=True)
    averaging = WeightAveraging(decay=0.9, warmup_steps=2.0)
    trajectory = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            trajectory.append(self.model.get_weights())

    start = model.get_weights()
    model.fit(x, y, batch_size=2, epochs=2, callbacks=[averaging, Record()], verbose=0)
    expected = [w.astype("float64") for w in start]
    for step, weights in enumerate(trajectory, start=1):
        d = 0.9 * (1 - math.exp(-step / 2.0))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights)]
    # Training ends on the average, not on the last step's weights.
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert not np.allclose(model.get_weights()[0], trajectory[-1][0])


def test_weight_averaging_gives_the_training_weights_back_each_epoch():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.get_weights()[0].copy())

    averaging = WeightAveraging(decay=0.99, warmup_steps=1.0)
    model.fit(
        np.ones((4, 1)),
        np.full((4, 1), 3.0),
        batch_size=1,
        epochs=2,
        callbacks=[averaging, Watch()],
        verbose=0,
    )
    # The second epoch starts from the first's last step, not the average.
    assert not np.allclose(seen[1], averaging.averaged_weights()[0])


def test_time_budget_rate_against_a_hand_computation():
    budget = TimeBudget(60, 0.01, steps_per_epoch=10, max_epochs=5, warmup_epochs=1)
    assert budget.rate(5) == pytest.approx(0.005)  # half the warm-up
    # Cosine over steps 10..50 to 1% of the peak.
    for step in (10, 30, 50):
        progress = (step - 10) / 40
        want = 0.01 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert budget.rate(step) == pytest.approx(want)


def test_time_budget_stops_when_no_other_epoch_fits():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    rates = []

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(self.model.optimizer.learning_rate))
            import time

            time.sleep(0.05)

    # 4 steps of >= 0.05 s an epoch: about 0.2 s; 0.5 s hold two epochs.
    budget = TimeBudget(0.5, 0.1, steps_per_epoch=4, max_epochs=50)
    history = model.fit(
        np.ones((4, 1)),
        np.ones((4, 1)),
        batch_size=1,
        epochs=50,
        callbacks=[Slow(), budget],
        verbose=0,
    )
    epochs = len(history.history["loss"])
    assert 1 <= epochs <= 3
    assert budget.planned_epochs == epochs
    assert rates[0] > rates[-1]  # the cosine went down


def test_time_budget_refuses_bad_arguments_naming_them():
    with pytest.raises(ValueError, match="seconds"):
        TimeBudget(0, 0.1, 1, 1)
    with pytest.raises(ValueError, match="final_fraction"):
        TimeBudget(1, 0.1, 1, 1, final_fraction=2)
