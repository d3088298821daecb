"""The dense detector: its boxes, its task-aligned loss against a loop-by-loop
reference, its decoding and its saved form."""

import numpy as np
import pytest

from components.detection.dense_loss import TaskAlignedLoss, pairwise_iou
from components.detection.dense_model import (
    DistanceBoxes,
    dense_detector,
    level_shapes,
    location_points,
)


def _iou(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _ciou(a, b, eps=1e-7):
    """Complete IoU by its formula (Zheng et al. 2020)."""
    iou = _iou(a, b)
    centre = ((a[0] + a[2] - b[0] - b[2]) ** 2 + (a[1] + a[3] - b[1] - b[3]) ** 2) / 4
    diagonal = (max(a[2], b[2]) - min(a[0], b[0])) ** 2 + (
        max(a[3], b[3]) - min(a[1], b[1])
    ) ** 2
    wa, ha = a[2] - a[0], a[3] - a[1] + eps
    wb, hb = b[2] - b[0], b[3] - b[1] + eps
    v = 4 / np.pi**2 * (np.arctan(wb / hb) - np.arctan(wa / ha)) ** 2
    alpha = v / (v - iou + 1 + eps)
    return iou - centre / (diagonal + eps) - alpha * v


def _reference_loss(truth, pred, points, num_classes, top_k, alpha, beta, cw, bw):
    """The task-aligned loss, object by object and location by location."""
    batch, locations = pred.shape[0], pred.shape[1]
    totals, class_sum, box_sum, target_sum = [], [], [], 0.0
    for b in range(batch):
        objects = [row for row in truth[b] if row[4] >= 0]
        scores = 1 / (1 + np.exp(-pred[b, :, 4:]))
        align = np.zeros((locations, len(objects)))
        iou = np.zeros((locations, len(objects)))
        inside = np.zeros((locations, len(objects)), bool)
        for m, obj in enumerate(objects):
            for n in range(locations):
                x, y = points[n, 0], points[n, 1]
                if obj[0] < x < obj[2] and obj[1] < y < obj[3]:
                    inside[n, m] = True
            if not inside[:, m].any():  # the nearest location instead
                centre = [(obj[0] + obj[2]) / 2, (obj[1] + obj[3]) / 2]
                n = int(np.argmin(np.sum((points[:, :2] - centre) ** 2, axis=-1)))
                inside[n, m] = True
            for n in np.nonzero(inside[:, m])[0]:
                iou[n, m] = _iou(pred[b, n, :4], obj[:4])
                align[n, m] = scores[n, int(obj[4])] ** alpha * iou[n, m] ** beta
        chosen = np.zeros_like(align, bool)
        for m in range(len(objects)):
            candidates = np.nonzero(inside[:, m])[0]
            order = np.argsort(-align[candidates, m], kind="stable")
            best = candidates[order][:top_k]
            chosen[best, m] = True
        targets = np.zeros((locations, num_classes))
        box_term = 0.0
        owner = -np.ones(locations, int)
        for n in range(locations):
            if chosen[n].any():
                owner[n] = int(np.argmax(np.where(chosen[n], iou[n], -1.0)))
        for m, obj in enumerate(objects):
            mine = owner == m
            if not mine.any():
                continue
            scale = iou[mine, m].max() / max(align[mine, m].max(), 1e-9)
            for n in np.nonzero(mine)[0]:
                weight = align[n, m] * scale
                targets[n, int(obj[4])] = weight
                box_term += (1 - _ciou(pred[b, n, :4], obj[:4])) * weight
        logits = pred[b, :, 4:]
        bce = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-abs(logits)))
        class_sum.append(bce.sum())
        box_sum.append(box_term)
        target_sum += targets.sum()
    total = max(target_sum, 1.0) / batch
    for b in range(batch):
        totals.append(cw * class_sum[b] / total + bw * box_sum[b] / total)
    return np.mean(totals)


def _random_case(seed, level_shapes_, num_classes=3, batch=2, objects=4):
    rng = np.random.default_rng(seed)
    points = location_points((64, 64), level_shapes_)
    n = len(points)
    centre = points[:, :2] + rng.normal(0, 0.03, (n, 2))
    half = rng.uniform(0.05, 0.3, (batch, n, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=-1)
    logits = rng.normal(-1, 1.5, (batch, n, num_classes))
    pred = np.concatenate([boxes, logits], axis=-1).astype("float32")
    truth = -np.ones((batch, objects, 5), "float32")
    for b in range(batch):
        for m in range(objects - b):  # the second image has padding
            x0, y0 = rng.uniform(0, 0.6, 2)
            w, h = rng.uniform(0.1, 0.4, 2)
            truth[b, m] = [x0, y0, x0 + w, y0 + h, rng.integers(num_classes)]
        # One smaller than the finest stride, between location centres.
        truth[b, 0, :4] = [0.88, 0.88, 0.92, 0.92]
    return truth, pred, points


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_task_aligned_loss_matches_a_loop_by_loop_reference(seed):
    shapes = [(8, 8), (4, 4)]
    truth, pred, points = _random_case(seed, shapes)
    loss = TaskAlignedLoss((64, 64), shapes, num_classes=3, top_k=5)
    expected = _reference_loss(truth, pred, points, 3, 5, 0.5, 6.0, 0.5, 7.5)
    assert float(loss(truth, pred)) == pytest.approx(expected, rel=1e-4)


def test_assignment_keeps_locations_inside_their_object_and_the_best_iou():
    shapes = [(8, 8)]
    truth, pred, points = _random_case(3, shapes, batch=1, objects=3)
    loss = TaskAlignedLoss((64, 64), shapes, num_classes=3, top_k=4)
    targets, boxes, positive = (np.asarray(t) for t in loss.assign(truth, pred))
    assert 0 < positive.sum() <= 4 * 3
    small = np.all(np.isclose(boxes[0], truth[0, 0, :4]), axis=-1) * positive[0]
    assert small.sum() == 1  # no centre inside it, yet it is learned
    for n in np.nonzero(positive[0])[0]:
        owner = [m for m in range(3) if np.allclose(boxes[0, n], truth[0, m, :4])]
        assert owner, "a positive location's box is one of the objects"
        obj = truth[0, owner[0]]
        x, y = points[n, :2]
        if owner[0] == 0:  # the small object: the location nearest its centre
            assert (x, y) == pytest.approx((0.9375, 0.9375))
        else:
            assert obj[0] < x < obj[2] and obj[1] < y < obj[3]
        assert targets[0, n].argmax() == int(obj[4])
    # Each object's best location asks for exactly the best IoU it reaches.
    for m in range(3):
        mine = positive[0] * np.all(np.isclose(boxes[0], truth[0, m, :4]), axis=-1)
        if mine.any():
            ious = [_iou(pred[0, n, :4], truth[0, m, :4]) for n in np.nonzero(mine)[0]]
            top = targets[0, mine > 0, int(truth[0, m, 4])].max()
            assert top == pytest.approx(max(ious), rel=1e-4)


def test_an_image_without_objects_has_no_positive_and_only_the_class_term():
    shapes = [(4, 4)]
    _, pred, _ = _random_case(4, shapes, batch=1)
    truth = -np.ones((1, 3, 5), "float32")
    loss = TaskAlignedLoss((64, 64), shapes, num_classes=3)
    terms = {k: float(v[0]) for k, v in loss.terms(truth, pred).items()}
    logits = pred[0, :, 4:].astype("float64")
    bce = np.sum(np.maximum(logits, 0) + np.log1p(np.exp(-abs(logits))))
    assert terms["boxes"] == 0.0
    assert terms["classes"] == pytest.approx(0.5 * bce, rel=1e-5)


def test_shapes_that_do_not_fit_are_refused_naming_the_argument():
    shapes = [(4, 4)]
    truth, pred, _ = _random_case(5, shapes, batch=1)
    loss = TaskAlignedLoss((64, 64), shapes, num_classes=3)
    with pytest.raises(ValueError, match=r"y_true must be \(batch, objects, 5\)"):
        loss(truth[..., :4], pred)
    with pytest.raises(ValueError, match=r"y_pred must be \(batch, 16, 7\)"):
        loss(truth, pred[:, :10])
    with pytest.raises(ValueError, match="num_classes=2"):
        TaskAlignedLoss((64, 64), shapes, num_classes=2)(truth, pred)


def test_pairwise_iou_against_a_hand_computation():
    a = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 1.0, 3.0]], "float32")
    b = np.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]], "float32")
    got = np.asarray(pairwise_iou(a, b))
    np.testing.assert_allclose(got, [[1 / 7, 1.0], [0.0, 0.0]], rtol=1e-6)


def test_distance_boxes_put_each_side_at_its_distance_in_strides():
    # Location (row 1, col 0) of a 2x2 map: centre (0.25, 0.75) of the
    # image; distances 1, 0.5, 0.25 and 2 strides (a stride is 0.5).
    distances = np.array([1.0, 0.5, 0.25, 2.0])
    raw = np.zeros((1, 2, 2, 5), "float32")
    raw[0, 1, 0, :4] = np.log(np.expm1(distances))  # softplus inverse
    out = np.asarray(DistanceBoxes()(raw))
    expected = [0.25 - 0.5, 0.75 - 0.25, 0.25 + 0.125, 0.75 + 1.0]
    np.testing.assert_allclose(out[0, 2, :4], expected, rtol=1e-5)


def test_under_mixed_precision_the_boxes_are_float32_and_a_step_trains():
    import keras

    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = dense_detector((64, 64, 3), 2, width=4, stages=(1, 1, 1, 1))
        loss = TaskAlignedLoss((64, 64), level_shapes(model), num_classes=2)
        model.compile(optimizer="adam", loss=loss)
        truth = np.array([[[0.1, 0.1, 0.5, 0.6, 1.0]]] * 2, "float32")
        images = np.random.default_rng(0).random((2, 64, 64, 3), "float32")
        history = model.fit(images, truth, epochs=2, verbose=0).history
        # A bfloat16 box corner keeps 8 bits: (0.75 + 1e-3) would round to 0.75.
        raw = np.zeros((1, 2, 2, 5), "float32")
        raw[0, 0, 0, 2] = np.log(np.expm1(1.002))  # right side 0.501 of the image
        right = np.asarray(DistanceBoxes()(raw))[0, 0, 2]
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.output.dtype == "float32"
    assert right.dtype == np.float32 and right == pytest.approx(0.751, abs=1e-5)
    assert np.all(np.isfinite(history["loss"]))


def test_dense_detector_levels_follow_the_backbone_and_min_stride():
    model = dense_detector((64, 64, 3), 2, width=4, stages=(1, 1, 1, 1))
    assert level_shapes(model) == [(8, 8), (4, 4)]
    coarse = dense_detector((64, 64, 3), 2, width=4, stages=(1, 1, 1, 1), min_stride=16)
    assert level_shapes(coarse) == [(4, 4)]
    with pytest.raises(ValueError, match="min_stride"):
        dense_detector((64, 64, 3), 2, width=4, stages=(1, 1, 1, 1), min_stride=32)


# The decoding is TensorFlow's (as YOLO's): the saved model is a TensorFlow one.
@pytest.mark.backend_independent
def test_saved_dense_inference_model_gives_the_same_detections(tmp_path):
    import keras

    from components.detection import dense_inference_model

    net = dense_detector((64, 64, 3), 3, width=4, stages=(1, 1, 1, 1))
    model = dense_inference_model(net, score_threshold=0.0)
    images = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    before = model.predict(images, verbose=0)
    path = str(tmp_path / "dense.keras")
    model.save(path)
    after = keras.saving.load_model(path).predict(images, verbose=0)
    assert int(before["num_detections"][0]) > 0
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-5)
