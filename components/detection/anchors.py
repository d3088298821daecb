"""Anchors (Faster R-CNN): a grid of reference boxes, matching and box deltas."""

from __future__ import annotations

import numpy as np
from keras import ops
from keras.utils import bounding_boxes

from components.checks import invalid_value

# Deltas are divided by these (x, y, w, h) scales so that the regression
# targets are of order 1, as in Fast R-CNN's normalized targets.
BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)


def _check_positive_values(name, values):
    values = tuple(float(v) for v in values)
    if not values or min(values) <= 0:
        raise ValueError(invalid_value(name, values, "at least one positive number"))
    return values


def anchor_grid(feature_size, stride, sizes=(16, 32, 48), aspect_ratios=(0.5, 1, 2)):
    """The anchors of a feature map: the same boxes centred on every location.

    Faster R-CNN's region proposal network predicts, at each position of
    the conv feature map, an objectness score and box offsets for
    `len(sizes) * len(aspect_ratios)` reference boxes ("anchors"). An anchor
    of size `s` and aspect ratio `r` (height / width) has the area `s * s`:
    width `s / sqrt(r)`, height `s * sqrt(r)`. Location `(row, col)` is
    centred at `((col + 0.5) * stride, (row + 0.5) * stride)` image pixels.

    Args:
        feature_size: `(height, width)` of the feature map, in cells.
        stride: Positive number. Image pixels per feature-map cell.
        sizes: Sequence of positive numbers. Anchor sides in pixels.
        aspect_ratios: Sequence of positive numbers. Height / width.

    Returns:
        Float32 NumPy array `(height * width * A, 4)` of "xyxy" pixel boxes,
        ordered by row, column, then size, then aspect ratio;
        `A = len(sizes) * len(aspect_ratios)`.

    Example:

    >>> anchors = anchor_grid((2, 3), stride=8, sizes=(8,), aspect_ratios=(1,))
    >>> anchors.shape, anchors[4].tolist()  # row 1, column 1: centre (12, 12)
    ((6, 4), [8.0, 8.0, 16.0, 16.0])
    """
    sizes = _check_positive_values("sizes", sizes)
    aspect_ratios = _check_positive_values("aspect_ratios", aspect_ratios)
    if len(feature_size) != 2 or min(int(v) for v in feature_size) < 1:
        raise ValueError(
            invalid_value(
                "feature_size", feature_size, "(height, width) of at least 1 cell"
            )
        )
    if not float(stride) > 0:
        raise ValueError(invalid_value("stride", stride, "a positive number"))
    half = np.array(
        [
            [size / np.sqrt(ratio) / 2, size * np.sqrt(ratio) / 2]
            for size in sizes
            for ratio in aspect_ratios
        ]
    )
    rows, cols = np.meshgrid(
        np.arange(feature_size[0]), np.arange(feature_size[1]), indexing="ij"
    )
    centres = (np.stack([cols, rows], axis=-1).reshape(-1, 1, 2) + 0.5) * stride
    anchors = np.concatenate([centres - half, centres + half], axis=-1)
    return anchors.reshape(-1, 4).astype("float32")


def match_boxes(candidates, boxes, positive_iou=0.7, negative_iou=0.3, force_best=True):
    """Matches candidate boxes (anchors or regions) to ground-truth boxes by IoU.

    A candidate whose highest IoU with a true box is at least `positive_iou`
    is positive (1) for that box; one whose highest IoU is under
    `negative_iou` is negative (0); the rest are ignored (-1). With
    `force_best` (Faster R-CNN's rule), each true box's highest-IoU
    candidates are positive for it whatever that IoU, so no object is left
    without an anchor. Padding boxes (all coordinates -1) match nothing;
    an image with no boxes gets only negatives.

    Args:
        candidates: `(N, 4)` or `(batch, N, 4)` "xyxy" boxes.
        boxes: `(batch, M, 4)` "xyxy" true boxes, padded with -1.
        positive_iou: Float in (0, 1].
        negative_iou: Float in [0, positive_iou].
        force_best: Boolean.

    Returns:
        `(matches, indices, ious)`, each `(batch, N)`: 1 / 0 / -1 as above
        (int32), the index of the matched true box (int32; meaningful where
        `matches == 1`) and the highest IoU (float32).

    Example:

    >>> anchors = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 40, 50, 50]]
    >>> truth = [[[0, 0, 10, 12], [21, 0, 30, 10]]]
    >>> m, i, _ = match_boxes(anchors, truth, 0.7, 0.3)
    >>> ops.convert_to_numpy(m).tolist(), ops.convert_to_numpy(i).tolist()
    ([[1, 1, 0]], [[0, 1, 0]])
    """
    if not 0.0 < positive_iou <= 1.0 or not 0.0 <= negative_iou <= positive_iou:
        raise ValueError(
            "Invalid value received for arguments `positive_iou` and `negative_iou`. "
            "Expected 0 <= negative_iou <= positive_iou <= 1 and positive_iou > 0. "
            f"Received: positive_iou={positive_iou}, negative_iou={negative_iou}"
        )
    boxes = ops.convert_to_tensor(boxes, "float32")
    candidates = ops.convert_to_tensor(candidates, "float32")
    if len(candidates.shape) == 2:
        candidates = ops.broadcast_to(
            candidates[None], (ops.shape(boxes)[0], *candidates.shape)
        )
    valid = ops.max(boxes, axis=-1) >= 0  # (batch, M)
    iou = bounding_boxes.compute_iou(candidates, boxes, "xyxy")  # (batch, N, M)
    iou = ops.where(valid[:, None, :], iou, -1.0)
    best_iou = ops.max(iou, axis=-1)
    indices = ops.argmax(iou, axis=-1)
    matches = ops.where(
        best_iou >= positive_iou, 1, ops.where(best_iou < negative_iou, 0, -1)
    )
    if force_best:
        per_box_best = ops.max(iou, axis=1, keepdims=True)  # (batch, 1, M)
        is_best = (iou >= per_box_best) & (per_box_best > 0) & valid[:, None, :]
        forced = ops.any(is_best, axis=-1)
        indices = ops.where(
            forced, ops.argmax(ops.cast(is_best, "int32"), axis=-1), indices
        )
        matches = ops.where(forced, 1, matches)
    return ops.cast(matches, "int32"), ops.cast(indices, "int32"), best_iou


def encode_deltas(anchors, boxes):
    """Box offsets relative to anchors: `((x - xa) / wa, (y - ya) / ha,
    log(w / wa), log(h / ha))` divided by `BOX_VARIANCE`.

    Keras's `encode_box_to_deltas` ("center_xywh"), the parametrization of
    R-CNN's box regression and Faster R-CNN's anchors. Shapes broadcast:
    `(N, 4)` anchors with `(batch, N, 4)` boxes, or both batched. The
    inverse is `decode_deltas`.

    Example:

    >>> d = encode_deltas([[0.0, 0.0, 10.0, 10.0]], [[1.0, 0.0, 11.0, 10.0]])
    >>> [round(float(v), 3) for v in ops.convert_to_numpy(d)[0]]
    [1.0, 0.0, 0.0, 0.0]
    """
    return bounding_boxes.encode_box_to_deltas(
        ops.convert_to_tensor(anchors, "float32"),
        ops.convert_to_tensor(boxes, "float32"),
        anchor_format="xyxy",
        box_format="xyxy",
        encoding_format="center_xywh",
        variance=BOX_VARIANCE,
    )


def decode_deltas(anchors, deltas):
    """The "xyxy" boxes that `deltas` (from `encode_deltas`) describe.

    Log-scale width and height deltas are clipped at log(1000 / 16), as
    Faster R-CNN does, so that an untrained network's outputs cannot
    overflow `exp`.

    Example:

    >>> b = decode_deltas([[0.0, 0.0, 10.0, 10.0]], [[1.0, 0.0, 0.0, 0.0]])
    >>> [round(float(v), 3) for v in ops.convert_to_numpy(b)[0]]
    [1.0, 0.0, 11.0, 10.0]
    """
    deltas = ops.convert_to_tensor(deltas, "float32")
    limit = float(np.log(1000.0 / 16.0)) / BOX_VARIANCE[2]
    deltas = ops.concatenate(
        [deltas[..., :2], ops.clip(deltas[..., 2:], -limit, limit)], axis=-1
    )
    return bounding_boxes.decode_deltas_to_boxes(
        ops.convert_to_tensor(anchors, "float32"),
        deltas,
        anchor_format="xyxy",
        box_format="xyxy",
        encoded_format="center_xywh",
        variance=BOX_VARIANCE,
    )
