"""Box checks and conversions, on top of `keras.utils.bounding_boxes`."""

from __future__ import annotations

import numpy as np


def check_boxes(boxes, labels, image_shape, num_classes, tolerance=0.5):
    """Validates padded "xyxy" pixel boxes and their labels; returns them.

    Padding rows (label -1) are ignored. Images with no objects (all padding)
    are valid: every cell of their YOLO target says "no object".

    Args:
        boxes: Array `(..., max_objects, 4)`: `x_min, y_min, x_max, y_max`.
        labels: Integer array `(..., max_objects)`; -1 marks padding.
        image_shape: `(height, width, ...)` of the images.
        num_classes: Integer. Labels must lie in `[0, num_classes)`.
        tolerance: Float. Pixels a box may stick out of the image (rounding).

    Returns:
        `(boxes, labels)` as float32 and int32 NumPy arrays.

    Example:

    >>> import numpy as np
    >>> b, l = check_boxes([[4, 4, 10, 12], [-1, -1, -1, -1]], [3, -1], (16, 16), 10)
    >>> l.tolist()
    [3, -1]
    """
    boxes = np.asarray(boxes, "float32")
    labels = np.asarray(labels)
    if boxes.shape[-1:] != (4,) or boxes.shape[:-1] != labels.shape:
        raise ValueError(
            "Expected `boxes` of shape (..., max_objects, 4) and `labels` of shape "
            f"(..., max_objects). Received: boxes.shape={boxes.shape}, "
            f"labels.shape={labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"Expected integer `labels`. Received dtype {labels.dtype}.")
    real = labels >= 0
    if (labels[real] >= num_classes).any() or (labels < -1).any():
        bad = labels[(labels >= num_classes) | (labels < -1)][0]
        raise ValueError(
            "Invalid value received for argument `labels`. Expected class ids in "
            f"[0, {num_classes}) or -1 for padding. Received: a label {int(bad)}"
        )
    height, width = image_shape[0], image_shape[1]
    x0, y0, x1, y1 = (boxes[..., i][real] for i in range(4))
    if (x1 <= x0).any() or (y1 <= y0).any():
        raise ValueError(
            "Invalid value received for argument `boxes`. Expected x_max > x_min and "
            "y_max > y_min ('xyxy' format) for every box."
        )
    if (
        (x0 < -tolerance).any()
        or (y0 < -tolerance).any()
        or (x1 > width + tolerance).any()
        or (y1 > height + tolerance).any()
    ):
        raise ValueError(
            "Invalid value received for argument `boxes`. Expected boxes inside the "
            f"{height}x{width} image (pixel 'xyxy' coordinates)."
        )
    return boxes, labels.astype("int32")
