"""The four losses of Faster R-CNN and the targets they compare against.

Region proposal network: anchor classification (object or not) and anchor
box regression; detector: region classification (C classes + background)
and class-specific box regression. R-CNN and Fast R-CNN use the last two.
Box regressions are smooth L1 (Keras's Huber loss with delta 1) on
`encode_deltas` offsets. All functions use `keras.ops` (any backend).
"""

from __future__ import annotations

import keras
from keras import ops

from components.detection.anchors import encode_deltas, match_boxes


def anchor_targets(anchors, boxes, positive_iou=0.7, negative_iou=0.3):
    """RPN targets: each anchor's match (1 / 0 / -1 ignored) and its deltas.

    Args:
        anchors: `(N, 4)` "xyxy" anchors (`anchor_grid`).
        boxes: `(batch, M, 4)` true boxes padded with -1.
        positive_iou: Float. Anchors at least this close to a box are objects.
        negative_iou: Float. Anchors under this IoU with every box are not.

    Returns:
        `(matches, deltas)`: int32 `(batch, N)` and float32 `(batch, N, 4)`
        (zeros where `matches != 1`).

    Example:

    >>> m, d = anchor_targets([[0, 0, 10, 10], [30, 30, 40, 40]], [[[0, 0, 10, 11]]])
    >>> ops.convert_to_numpy(m).tolist()
    [[1, 0]]
    """
    boxes = ops.convert_to_tensor(boxes, "float32")
    matches, indices, _ = match_boxes(anchors, boxes, positive_iou, negative_iou)
    matched = ops.take_along_axis(boxes, indices[..., None], axis=1)
    deltas = encode_deltas(anchors, matched)
    deltas = ops.where((matches == 1)[..., None], deltas, 0.0)
    return matches, ops.stop_gradient(deltas)


def region_targets(regions, boxes, labels, foreground_iou=0.5):
    """Detector targets: each region's class (0 = background) and its deltas.

    Fast R-CNN's labelling: a region with IoU of at least `foreground_iou`
    with a true box takes that box's class (label + 1) and regresses it;
    every other region is background (0). Padding regions (all coordinates
    negative) get -1 and count in no loss.

    Args:
        regions: `(batch, R, 4)` "xyxy" regions.
        boxes: `(batch, M, 4)` true boxes padded with -1.
        labels: `(batch, M)` class ids padded with -1.
        foreground_iou: Float in (0, 1].

    Returns:
        `(classes, deltas)`: int32 `(batch, R)` in `[-1, C]` and float32
        `(batch, R, 4)` (zeros for background and padding).

    Example:

    >>> regions = [[[0, 0, 10, 10], [20, 20, 30, 30], [-1, -1, -1, -1]]]
    >>> c, d = region_targets(regions, [[[0, 0, 10, 12]]], [[4]])
    >>> ops.convert_to_numpy(c).tolist()
    [[5, 0, -1]]
    """
    regions = ops.convert_to_tensor(regions, "float32")
    boxes = ops.convert_to_tensor(boxes, "float32")
    labels = ops.cast(labels, "int32")
    matches, indices, _ = match_boxes(
        regions, boxes, foreground_iou, foreground_iou, force_best=False
    )
    matched = ops.take_along_axis(boxes, indices[..., None], axis=1)
    matched_labels = ops.take_along_axis(labels, indices, axis=1)
    foreground = matches == 1
    classes = ops.where(foreground, matched_labels + 1, 0)
    classes = ops.where(ops.all(regions < 0, axis=-1), -1, classes)
    deltas = ops.where(foreground[..., None], encode_deltas(regions, matched), 0.0)
    return ops.cast(classes, "int32"), ops.stop_gradient(deltas)


def _smooth_l1(target, predicted):
    """Smooth L1 summed over the 4 coordinates (Huber, delta 1, is its mean)."""
    return 4.0 * keras.losses.huber(target, predicted, delta=1.0)


def _safe_mean(values, weights):
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


def rpn_classification_loss(matches, logits):
    """Binary cross-entropy of anchor objectness, ignored anchors left out.

    Faster R-CNN samples 256 anchors per image, up to half of them
    positive; here every non-ignored anchor counts, and positives and
    negatives each carry half of an image's weight, which keeps the few
    positive anchors from drowning among ~1,000 negatives.
    """
    matches = ops.cast(matches, "int32")
    positive = ops.cast(matches == 1, "float32")
    negative = ops.cast(matches == 0, "float32")
    per_anchor = (
        ops.maximum(logits, 0.0)
        - logits * positive
        + ops.log1p(ops.exp(-ops.abs(logits)))
    )
    weights = 0.5 * positive / ops.maximum(
        ops.sum(positive, axis=1, keepdims=True), 1.0
    ) + 0.5 * negative / ops.maximum(ops.sum(negative, axis=1, keepdims=True), 1.0)
    return ops.mean(ops.sum(per_anchor * weights, axis=1))


def rpn_regression_loss(matches, target_deltas, deltas):
    """Smooth L1 of the positive anchors' deltas, per positive anchor."""
    return _safe_mean(
        _smooth_l1(target_deltas, deltas), ops.cast(matches, "int32") == 1
    )


def detector_classification_loss(classes, logits):
    """Softmax cross-entropy over C + 1 classes, per non-padding region."""
    classes = ops.cast(classes, "int32")
    per_region = keras.losses.sparse_categorical_crossentropy(
        ops.maximum(classes, 0), logits, from_logits=True
    )
    return _safe_mean(per_region, classes >= 0)


def detector_regression_loss(classes, target_deltas, deltas):
    """Smooth L1 of the true class's deltas, per foreground region.

    `deltas` is `(batch, R, C, 4)`: one box per class, as in Fast R-CNN;
    only the deltas of the region's true class are trained.
    """
    classes = ops.cast(classes, "int32")
    index = ops.maximum(classes - 1, 0)[..., None, None]
    own = ops.squeeze(ops.take_along_axis(deltas, index, axis=2), axis=2)
    return _safe_mean(_smooth_l1(target_deltas, own), classes >= 1)
