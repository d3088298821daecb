"""From raw detector outputs to scored, non-overlapping boxes (TensorFlow ops).

Only TensorFlow ops, never `keras.ops`: the decoding runs in TensorFlow
graphs (a `tf.function`, the exported model) under whatever backend Keras
trains with, JAX included; `keras.ops` would build that backend's arrays.
The few steps shared with the training code (`split_predictions`,
`decode_deltas`) are written here again in TensorFlow, and tested equal.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.detection.anchors import BOX_VARIANCE


def decode_predictions(
    y_pred,
    image_shape,
    boxes_per_cell=2,
    score_threshold=0.2,
    iou_threshold=0.5,
    max_detections=50,
):
    """Raw YOLO outputs to detections: class-specific scores, threshold, NMS.

    As in the paper, each box's class-specific score is
    `P(class | object) * confidence`; boxes under `score_threshold` are
    dropped and non-maximum suppression (class by class, TensorFlow's
    `combined_non_max_suppression`: no Python loop over boxes) removes boxes
    overlapping a higher-scoring box of their class by more than
    `iou_threshold`. TensorFlow-only post-processing.

    Args:
        y_pred: Tensor `(batch, S, S, 5B + C)` of raw outputs.
        image_shape: `(height, width, ...)`.
        boxes_per_cell: Positive integer B.
        score_threshold: Float in [0, 1].
        iou_threshold: Float in [0, 1].
        max_detections: Positive integer. Most detections kept per image.

    Returns:
        A dict: `boxes` `(batch, max_detections, 4)` "xyxy" pixels, `scores`
        and `labels` `(batch, max_detections)`, `num_detections` `(batch,)`;
        rows past `num_detections` are zero padding.

    Example:

    >>> import numpy as np
    >>> out = decode_predictions(np.zeros((1, 7, 7, 20), "float32"), (112, 112))
    >>> int(out["num_detections"][0])  # all scores 0.5 * 0.1 < 0.2
    0
    """
    yxyx, scores = yolo_boxes_and_scores(y_pred, boxes_per_cell)
    return _suppress(
        yxyx[:, :, None, :],
        scores,
        image_shape,
        score_threshold,
        iou_threshold,
        max_detections,
    )


def yolo_boxes_and_scores(y_pred, boxes_per_cell=2):
    """Every predicted box as normalized "yxyx" `(batch, S*S*B, 4)` and its
    class-specific scores `(batch, S*S*B, C)` (`P(class | object) *
    confidence`), before any threshold or suppression."""
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    grid = y_pred.shape[1]
    xy, sqrt_wh, confidence, class_probs = _split(y_pred, boxes_per_cell)
    # A constant (the grid is static): a slice adding an axis would be a
    # StridedSlice with new_axis_mask, which LiteRT's builtin ops lack.
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    cells = np.stack([cols, rows], axis=-1).reshape(grid, grid, 1, 2)
    centre = (xy + tf.constant(cells, tf.float32)) / grid
    half = tf.square(sqrt_wh) / 2.0
    # TensorFlow's NMS ops work on normalized "yxyx" boxes.
    yxyx = tf.concat(
        [
            centre[..., 1:] - half[..., 1:],
            centre[..., :1] - half[..., :1],
            centre[..., 1:] + half[..., 1:],
            centre[..., :1] + half[..., :1],
        ],
        axis=-1,
    )
    scores = class_probs[..., None, :] * confidence[..., None]
    batch = tf.shape(y_pred)[0]
    num_classes = class_probs.shape[-1]
    return (
        tf.reshape(yxyx, (batch, -1, 4)),
        tf.reshape(scores, (batch, -1, num_classes)),
    )


def dense_boxes_and_scores(y_pred, num_classes=None):
    """A dense detector's `(batch, N, 4 + C)` outputs as normalized "yxyx"
    boxes `(batch, N, 4)` and class scores `(batch, N, C)` (a sigmoid per
    class), before any threshold or suppression. With `num_classes`, only
    the C channels after the box are classes (a `yolov8_detector`'s box
    distributions follow them)."""
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    if num_classes is not None:
        y_pred = y_pred[..., : 4 + num_classes]
    boxes = y_pred[..., :4]
    yxyx = tf.stack(
        [boxes[..., 1], boxes[..., 0], boxes[..., 3], boxes[..., 2]], axis=-1
    )
    return yxyx, tf.sigmoid(y_pred[..., 4:])


def decode_dense_predictions(
    y_pred,
    image_shape,
    score_threshold=0.2,
    iou_threshold=0.5,
    max_detections=50,
    num_classes=None,
):
    """A dense detector's outputs (`dense_detector`) to detections: a score
    per class and location, a threshold, then NMS class by class.

    Args and returns as `decode_predictions`, with `y_pred` of shape
    `(batch, N, 4 + C)`: boxes as "xyxy" fractions of the image, then class
    logits (with `num_classes`, channels past 4 + C are ignored).

    Example:

    >>> import numpy as np
    >>> raw = np.full((1, 2, 6), -9.0, "float32")  # every class unlikely
    >>> raw[0, :, :4] = [[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.5]]
    >>> raw[0, :, 4] = [3.0, 2.0]  # both sure of class 0: the better is kept
    >>> out = decode_dense_predictions(raw, (100, 100))
    >>> int(out["num_detections"][0]), out["boxes"][0, 0].numpy().tolist()
    (1, [10.0, 10.0, 50.0, 50.0])
    """
    yxyx, scores = dense_boxes_and_scores(y_pred, num_classes)
    return _suppress(
        yxyx[:, :, None, :],
        scores,
        image_shape,
        score_threshold,
        iou_threshold,
        max_detections,
    )


def _split(y_pred, boxes_per_cell):
    """`yolo_loss.split_predictions` in TensorFlow ops."""
    boxes = y_pred[..., : 5 * boxes_per_cell]
    # Static sizes where known (the grid): LiteRT's builtin slices need them.
    known = boxes.shape[:-1].as_list()
    if known.count(None) <= 1:
        shape = [-1 if size is None else size for size in known]
        shape += [boxes_per_cell, 5]
    else:
        shape = tf.concat([tf.shape(boxes)[:-1], [boxes_per_cell, 5]], axis=0)
    boxes = tf.sigmoid(tf.reshape(boxes, shape))
    class_probs = tf.nn.softmax(y_pred[..., 5 * boxes_per_cell :], axis=-1)
    return boxes[..., :2], boxes[..., 2:4], boxes[..., 4], class_probs


def _decode_deltas(anchors, deltas):
    """`anchors.decode_deltas` in TensorFlow ops: "xyxy" anchors moved by
    centre-size deltas scaled by `BOX_VARIANCE`, log-sizes clipped."""
    variance = tf.constant(BOX_VARIANCE, tf.float32)
    deltas = deltas * variance
    limit = float(np.log(1000.0 / 16.0))
    size = anchors[..., 2:] - anchors[..., :2]
    centre = anchors[..., :2] + size / 2.0
    centre = centre + deltas[..., :2] * size
    size = tf.exp(tf.clip_by_value(deltas[..., 2:], -limit, limit)) * size
    return tf.concat([centre - size / 2.0, centre + size / 2.0], axis=-1)


def portable_nms(
    yxyx, scores, image_shape, score_threshold, iou_threshold, max_detections
):
    """`combined_non_max_suppression` for one image, in ops that LiteRT and
    ONNX have as builtins (TensorFlow's `NonMaxSuppressionV5` class by class,
    then the best `max_detections` over all classes): what an exported
    detector runs, where the combined op is a TensorFlow select op.

    Args:
        yxyx: `(N, 4)` normalized boxes of one image, or `(N, C, 4)`: a box
            per class (region detectors).
        scores: `(N, C)` class-specific scores.
        image_shape, score_threshold, iou_threshold, max_detections: As
            `decode_predictions`.

    Returns:
        The dict of `decode_predictions` with a batch of one.
    """
    # Every shape static: each class's suppression returns `max_detections`
    # rows padded, with its count of valid ones (the runtimes' kernels pad
    # so; a dynamic shape from them was the padded one), and invalid rows
    # sort last by a score of -1.
    kept_boxes, kept_scores, kept_labels = [], [], []
    slots = tf.range(max_detections)
    for label in range(scores.shape[-1]):
        class_boxes = yxyx if yxyx.shape.rank == 2 else yxyx[:, label, :]
        index, kept, valid = tf.raw_ops.NonMaxSuppressionV5(
            boxes=class_boxes,
            scores=scores[:, label],
            max_output_size=max_detections,
            iou_threshold=iou_threshold,
            score_threshold=score_threshold,
            soft_nms_sigma=0.0,
            pad_to_max_output_size=True,
        )
        kept_boxes.append(tf.gather(class_boxes, index))
        kept_scores.append(tf.where(slots < valid, kept, -1.0))
        kept_labels.append(tf.fill([max_detections], label))
    found = tf.concat(kept_scores, 0)
    best, order = tf.math.top_k(found, max_detections)
    real = best >= 0.0
    count = tf.reduce_sum(tf.cast(real, tf.int32))
    boxes = tf.clip_by_value(tf.gather(tf.concat(kept_boxes, 0), order), 0.0, 1.0)
    height, width = float(image_shape[0]), float(image_shape[1])
    xyxy = tf.stack(
        [
            boxes[:, 1] * width,
            boxes[:, 0] * height,
            boxes[:, 3] * width,
            boxes[:, 2] * height,
        ],
        axis=-1,
    )
    mask = tf.cast(real, tf.float32)
    return {
        "boxes": (xyxy * mask[:, None])[None],
        "scores": (best * mask)[None],
        "labels": (
            tf.gather(tf.concat(kept_labels, 0), order) * tf.cast(real, tf.int32)
        )[None],
        "num_detections": count[None],
    }


def _suppress(
    yxyx, scores, image_shape, score_threshold, iou_threshold, max_detections
):
    """Class-wise NMS of normalized "yxyx" boxes `(batch, N, 1 or C, 4)`;
    detections in "xyxy" pixels."""
    boxes, scores, labels, count = tf.image.combined_non_max_suppression(
        yxyx,
        scores,
        max_output_size_per_class=max_detections,
        max_total_size=max_detections,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        clip_boxes=True,
    )
    height, width = float(image_shape[0]), float(image_shape[1])
    xyxy = tf.stack(
        [
            boxes[..., 1] * width,
            boxes[..., 0] * height,
            boxes[..., 3] * width,
            boxes[..., 2] * height,
        ],
        axis=-1,
    )
    return {
        "boxes": xyxy,
        "scores": scores,
        "labels": tf.cast(labels, tf.int32),
        "num_detections": count,
    }


def decode_region_detections(
    outputs,
    image_shape,
    score_threshold=0.05,
    iou_threshold=0.5,
    max_detections=50,
):
    """Region-based detector outputs to detections: per-class boxes and NMS.

    As in Fast R-CNN's test step: each region's softmax gives a score per
    class (background dropped), its class-specific deltas refine it into
    one box per class (`decode_deltas`, clipped to the image), and NMS runs
    class by class (TensorFlow's `combined_non_max_suppression`).
    TensorFlow-only post-processing.

    Args:
        outputs: Dict with `rois` `(batch, R, 4)`, `class_logits`
            `(batch, R, C + 1)` and `box_deltas` `(batch, R, C, 4)`, as a
            `RegionDetector` predicts them.
        image_shape: `(height, width, ...)`.
        score_threshold: Float in [0, 1].
        iou_threshold: Float in [0, 1].
        max_detections: Positive integer. Most detections kept per image.

    Returns:
        The dict of `decode_predictions`: `boxes`, `scores`, `labels`,
        `num_detections`.

    Example:

    >>> import numpy as np
    >>> outputs = {"rois": np.array([[[10, 10, 20, 30]]], "float32"),
    ...            "class_logits": np.array([[[0.0, 5.0, 0.0]]], "float32"),
    ...            "box_deltas": np.zeros((1, 1, 2, 4), "float32")}
    >>> out = decode_region_detections(outputs, (64, 64))
    >>> out["boxes"][0, 0].numpy().round(1).tolist(), int(out["labels"][0, 0])
    ([10.0, 10.0, 20.0, 30.0], 0)
    """
    yxyx, scores = region_boxes_and_scores(outputs, image_shape)
    return _suppress(
        yxyx, scores, image_shape, score_threshold, iou_threshold, max_detections
    )


def region_boxes_and_scores(outputs, image_shape):
    """Each region's box per class, normalized "yxyx" `(batch, R, C, 4)`
    clipped to the image, and its class scores `(batch, R, C)` (softmax,
    background dropped, padding regions zero), before any suppression."""
    rois = tf.convert_to_tensor(outputs["rois"], tf.float32)
    logits = tf.convert_to_tensor(outputs["class_logits"], tf.float32)
    deltas = tf.convert_to_tensor(outputs["box_deltas"], tf.float32)
    height, width = float(image_shape[0]), float(image_shape[1])
    boxes = _decode_deltas(rois[:, :, None, :], deltas)  # (batch, R, C, 4)
    scale = tf.constant([width, height, width, height])
    boxes = tf.clip_by_value(boxes / scale, 0.0, 1.0)
    yxyx = tf.gather(boxes, [1, 0, 3, 2], axis=-1)
    scores = tf.nn.softmax(logits, axis=-1)[..., 1:]
    # Padding regions (all coordinates -1) must not become detections.
    padding = tf.reduce_all(rois < 0, axis=-1, keepdims=True)
    scores = tf.where(padding, tf.zeros_like(scores), scores)
    return yxyx, scores
