"""YOLO training targets: which grid cell is responsible for which object.

TensorFlow ops (they run inside the tf.data pipeline, after augmentation).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.checks import check_positive_int


def encode_yolo_targets(boxes, labels, image_shape, grid_size=7, num_classes=10):
    """Encodes one image's boxes as an `S x S x (5 + C)` YOLO target.

    The notes (and the YOLO paper): the cell holding an object's centre is
    responsible for it. Each responsible cell holds `x, y` (the centre,
    relative to the cell, in [0, 1)), `w, h` (relative to the image), an
    objectness of 1 and the one-hot class; other cells are all zero.

    A cell predicts one class, so it can only be responsible for one object.
    When several centres fall in one cell, the largest box (by area) is kept,
    the first listed among equals, and the others are dropped from the target
    (the paper's limitation: "each grid cell only predicts two boxes and can
    only have one class"). Padding (label -1) is ignored; an image with no
    objects gives an all-zero target.

    Args:
        boxes: Float tensor `(max_objects, 4)`, "xyxy" pixels.
        labels: Integer tensor `(max_objects,)`, -1 for padding.
        image_shape: `(height, width, ...)`.
        grid_size: Positive integer S.
        num_classes: Positive integer C.

    Returns:
        A float32 tensor `(S, S, 5 + C)`.

    Example:

    >>> t = encode_yolo_targets([[0., 0., 32., 16.]], [2], (64, 64), 2, 3)
    >>> t[0, 0].numpy().tolist()  # centre (16, 8): cell (0, 0)
    [0.5, 0.25, 0.5, 0.25, 1.0, 0.0, 0.0, 1.0]
    """
    check_positive_int("grid_size", grid_size)
    check_positive_int("num_classes", num_classes)
    height, width = float(image_shape[0]), float(image_shape[1])
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    labels = tf.reshape(tf.cast(labels, tf.int32), (-1,))
    real = labels >= 0
    boxes, labels = tf.boolean_mask(boxes, real), tf.boolean_mask(labels, real)
    size = float(grid_size)
    cx = (boxes[:, 0] + boxes[:, 2]) / (2.0 * width)
    cy = (boxes[:, 1] + boxes[:, 3]) / (2.0 * height)
    w = (boxes[:, 2] - boxes[:, 0]) / width
    h = (boxes[:, 3] - boxes[:, 1]) / height
    col = tf.clip_by_value(tf.cast(tf.floor(cx * size), tf.int32), 0, grid_size - 1)
    row = tf.clip_by_value(tf.cast(tf.floor(cy * size), tf.int32), 0, grid_size - 1)
    cell = row * grid_size + col
    # Rank objects largest first (stable: the first listed wins a tie); each
    # cell keeps its best-ranked object.
    order = tf.argsort(-(w * h), stable=True)
    rank = tf.scatter_nd(order[:, None], tf.range(tf.size(order)), tf.shape(order))
    best = tf.math.unsorted_segment_min(rank, cell, grid_size * grid_size)
    keep = tf.equal(rank, tf.gather(best, cell))
    values = tf.concat(
        [
            (cx * size - tf.cast(col, tf.float32))[:, None],
            (cy * size - tf.cast(row, tf.float32))[:, None],
            w[:, None],
            h[:, None],
            tf.ones_like(w)[:, None],
            tf.one_hot(labels, num_classes),
        ],
        axis=-1,
    )
    return tf.scatter_nd(
        tf.boolean_mask(tf.stack([row, col], axis=-1), keep),
        tf.boolean_mask(values, keep),
        (grid_size, grid_size, 5 + num_classes),
    )


def decode_yolo_targets(target, image_shape):
    """The boxes and labels held by a YOLO target (the inverse of encoding).

    Args:
        target: Array `(S, S, 5 + C)`.
        image_shape: `(height, width, ...)`.

    Returns:
        `(boxes, labels)`: "xyxy" pixel boxes `(n, 4)` and int labels `(n,)`, in
        row-major cell order.

    Example:

    >>> t = encode_yolo_targets([[0., 0., 32., 16.]], [2], (64, 64), 2, 3)
    >>> boxes, labels = decode_yolo_targets(t, (64, 64))
    >>> boxes.tolist(), labels.tolist()
    ([[0.0, 0.0, 32.0, 16.0]], [2])
    """
    target = np.asarray(target, "float32")
    grid = target.shape[0]
    height, width = image_shape[0], image_shape[1]
    rows, cols = np.nonzero(target[..., 4] > 0.5)
    cell = target[rows, cols]
    cx = (cols + cell[:, 0]) / grid * width
    cy = (rows + cell[:, 1]) / grid * height
    w, h = cell[:, 2] * width, cell[:, 3] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    return boxes.reshape(-1, 4), cell[:, 5:].argmax(-1).astype("int32")
