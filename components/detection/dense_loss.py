"""The task-aligned loss of a dense detector (TOOD, Feng et al. 2021; the
assignment YOLOv8 trains with), as a serializable Keras loss."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from components.checks import check_positive_int, invalid_value
from components.detection.dense_model import location_points


def pairwise_iou(boxes1, boxes2):
    """IoU of every "xyxy" box of `boxes1` `(..., N, 4)` with every box of
    `boxes2` `(..., M, 4)`: `(..., N, M)`; 0 where a box is empty."""
    a, b = boxes1[..., :, None, :], boxes2[..., None, :, :]
    width = ops.maximum(
        ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0
    )
    height = ops.maximum(
        ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0
    )
    inter = width * height

    def area(box):
        return ops.maximum(box[..., 2] - box[..., 0], 0.0) * ops.maximum(
            box[..., 3] - box[..., 1], 0.0
        )

    union = area(a) + area(b) - inter
    return ops.where(union > 0.0, inter / ops.maximum(union, 1e-12), 0.0)


@keras.saving.register_keras_serializable(package="components")
class TaskAlignedLoss(keras.losses.Loss):
    """Which locations answer for which object, decided from the predictions
    themselves, then a classification and a box term.

    The assignment (task-aligned): a location is a candidate for an object
    when its centre lies inside the object's box (for an object holding no
    location's centre, the location nearest its centre); among them, the
    `top_k` with the highest alignment `score ** alpha * IoU ** beta` (the
    predicted score of the object's class, the IoU of the predicted box) are
    positive. A location positive for two objects keeps the one its box
    overlaps most. Each positive's class target is its alignment, rescaled so
    that an object's best location has the best IoU any of them reaches: a
    location is asked for a score as high as its box is good, so scores rank
    boxes by quality, which is what mAP@[.5:.95] rewards.

    The terms: binary cross-entropy of every location's class logits against
    those targets (0 at every other location and class), weighted by
    `class_weight`; `1 - CIoU` of each positive's box with its object's
    (Keras's `compute_ciou`), weighted by its target and by `box_weight`;
    with `bins`, the distribution focal loss (Li et al. 2020) of each side's
    distribution, weighted likewise and by `distribution_weight`. All are
    divided by the sum of the targets over the batch.

    The distribution focal loss asks each side's distribution over the
    distances 0, 1, ..., bins - 1 (in strides) for the true distance `d`: its
    two neighbours `i = floor(d)` and `i + 1` get the cross-entropy
    `-((i + 1 - d) log p_i + (d - i) log p_(i+1))`, whose minimum puts the
    expectation at `d` (`d` clipped to `[0, bins - 1.01]`); the four sides'
    mean is the location's term.

    `y_true` is `(batch, M, 5)`: each object's box as "xyxy" fractions of the
    image and its class, rows with class -1 being padding. `y_pred` is the
    detector's `(batch, N, 4 + C)`, or with `bins` the `yolov8_detector`'s
    `(batch, N, 4 + C + 4 * bins)`.

    Args:
        image_shape: `(height, width[, channels])` of the detector's input.
        level_shapes: `(rows, cols)` of each level, finest first
            (`dense_model.level_shapes(model)`).
        num_classes: Positive integer C.
        top_k: Positive integer. Locations kept per object.
        alpha, beta: Floats. Exponents of the score and the IoU.
        class_weight, box_weight: Floats. Weights of the two terms (YOLOv8's
            0.5 and 7.5).
        bins: Integer. The distributions' bins of each box side (16 for
            `yolov8_detector`); 0 for boxes without distributions.
        distribution_weight: Float. Weight of the distribution focal loss
            (YOLOv8's 1.5).

    Example:

    >>> import numpy as np
    >>> from components.detection.dense_model import dense_detector, level_shapes
    >>> net = dense_detector((64, 64, 3), 2, width=4, stages=(1, 1, 1, 1))
    >>> loss = TaskAlignedLoss((64, 64), level_shapes(net), num_classes=2)
    >>> truth = np.array([[[0.1, 0.1, 0.5, 0.6, 1.0]]], "float32")
    >>> bool(loss(truth, net(np.zeros((1, 64, 64, 3)))) > 0)
    True
    """

    def __init__(
        self,
        image_shape,
        level_shapes,
        num_classes,
        top_k=10,
        alpha=0.5,
        beta=6.0,
        class_weight=0.5,
        box_weight=7.5,
        bins=0,
        distribution_weight=1.5,
        name="task_aligned_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.image_shape = [int(v) for v in image_shape]
        self.level_shapes = [[int(r), int(c)] for r, c in level_shapes]
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.top_k = check_positive_int("top_k", top_k)
        self.alpha, self.beta = float(alpha), float(beta)
        self.class_weight, self.box_weight = float(class_weight), float(box_weight)
        self.bins = check_positive_int("bins", bins, 0)
        if self.bins == 1:
            raise ValueError(invalid_value("bins", bins, "0 or an integer >= 2"))
        self.distribution_weight = float(distribution_weight)
        self._points = location_points(self.image_shape, self.level_shapes)
        # Locations per image side at each point: fractions to strides.
        self._per_side = np.concatenate(
            [np.tile([[c, r]], (r * c, 1)) for r, c in self.level_shapes]
        ).astype("float32")

    def assign(self, y_true, y_pred):
        """The targets: per location, the class targets `(batch, N, C)`, the
        object's box `(batch, N, 4)` and whether it is positive `(batch, N)`.
        No gradient flows through them."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.stop_gradient(ops.cast(y_pred, "float32"))
        self._check(y_true, y_pred)
        boxes, labels = y_true[..., :4], ops.cast(y_true[..., 4], "int32")
        real = ops.cast(labels >= 0, "float32")  # (B, M)
        one_hot = ops.one_hot(ops.maximum(labels, 0), self.num_classes)
        x = ops.convert_to_tensor(self._points[:, 0])[None, :, None]
        y = ops.convert_to_tensor(self._points[:, 1])[None, :, None]
        inside = (
            ops.cast(x > boxes[:, None, :, 0], "float32")
            * ops.cast(x < boxes[:, None, :, 2], "float32")
            * ops.cast(y > boxes[:, None, :, 1], "float32")
            * ops.cast(y < boxes[:, None, :, 3], "float32")
        )  # (B, N, M)
        # An object smaller than the finest stride may hold no location's
        # centre: the location nearest its centre is its candidate, or it
        # would never be learned.
        centre_x = (boxes[..., 0] + boxes[..., 2]) / 2.0
        centre_y = (boxes[..., 1] + boxes[..., 3]) / 2.0
        distance = ops.square(x - centre_x[:, None, :]) + ops.square(
            y - centre_y[:, None, :]
        )
        nearest = ops.one_hot(ops.argmin(distance, axis=1), self._points.shape[0])
        empty = 1.0 - ops.max(inside, axis=1)  # (B, M)
        nearest = ops.transpose(nearest, (0, 2, 1)) * empty[:, None, :]
        inside = ops.maximum(inside, nearest) * real[:, None, :]
        iou = pairwise_iou(y_pred[..., :4], boxes) * inside
        logits = y_pred[..., 4 : 4 + self.num_classes]
        scores = ops.einsum("bnc,bmc->bnm", ops.sigmoid(logits), one_hot)
        align = ops.power(scores, self.alpha) * ops.power(iou, self.beta) * inside
        # The k best locations of each object (fewer where fewer are inside).
        k = min(self.top_k, int(self._points.shape[0]))
        kth = ops.top_k(ops.transpose(align, (0, 2, 1)), k)[0][..., -1]  # (B, M)
        chosen = inside * ops.cast(align >= kth[:, None, :], "float32")
        # A location chosen by several objects answers for the best overlap.
        best = ops.one_hot(ops.argmax(iou * chosen, axis=-1), ops.shape(boxes)[1])
        positive = ops.max(chosen, axis=-1)  # (B, N)
        owner = best * positive[..., None]  # (B, N, M)
        align = align * owner
        best_iou = ops.max(iou * owner, axis=1)  # (B, M)
        best_align = ops.max(align, axis=1)
        weight = ops.max(
            align * (best_iou / ops.maximum(best_align, 1e-9))[:, None, :], axis=-1
        )  # (B, N)
        class_targets = ops.einsum("bnm,bmc->bnc", owner, one_hot) * weight[..., None]
        box_targets = ops.einsum("bnm,bmk->bnk", owner, boxes)
        return class_targets, box_targets, positive

    def _check(self, y_true, y_pred):
        """Static shapes that do not fit: one line naming the argument."""
        locations = len(self._points)
        depth = 4 + self.num_classes + 4 * self.bins
        if len(y_true.shape) != 3 or y_true.shape[-1] != 5:
            raise ValueError(
                f"y_true must be (batch, objects, 5): each object's xyxy box as "
                f"fractions of the image and its class (-1: padding); got shape "
                f"{tuple(y_true.shape)}."
            )
        if len(y_pred.shape) != 3 or tuple(y_pred.shape[1:]) not in (
            (locations, depth),
            (None, depth),
        ):
            raise ValueError(
                f"y_pred must be (batch, {locations}, {depth}): the level_shapes "
                f"{self.level_shapes} give {locations} locations, num_classes="
                f"{self.num_classes} and bins={self.bins} a depth of 4 + C + 4 * "
                f"bins; got shape {tuple(y_pred.shape)}."
            )

    def terms(self, y_true, y_pred):
        """The weighted terms per image, `classes` and `boxes`, each divided
        by the batch's sum of class targets (the loss is their sum, averaged
        over the batch by Keras)."""
        y_pred = ops.cast(y_pred, "float32")
        class_targets, box_targets, positive = self.assign(y_true, y_pred)
        batch = ops.cast(ops.shape(y_pred)[0], "float32")
        total = ops.maximum(ops.sum(class_targets), 1.0) / batch
        logits = y_pred[..., 4 : 4 + self.num_classes]
        cross_entropy = ops.sum(
            ops.maximum(logits, 0.0)
            - logits * class_targets
            + ops.log1p(ops.exp(-ops.abs(logits))),
            axis=(1, 2),
        )
        ciou = keras.utils.bounding_boxes.compute_ciou(
            y_pred[..., :4], box_targets, "xyxy"
        )
        ciou = ops.reshape(ciou, ops.shape(positive))
        weight = ops.sum(class_targets, axis=-1) * positive
        boxes = ops.sum((1.0 - ciou) * weight, axis=1)
        terms = {
            "classes": self.class_weight * cross_entropy / total,
            "boxes": self.box_weight * boxes / total,
        }
        if self.bins:
            focal = self.distribution_focal_loss(y_pred, box_targets)
            terms["distributions"] = (
                self.distribution_weight * ops.sum(focal * weight, axis=1) / total
            )
        return terms

    def distribution_focal_loss(self, y_pred, box_targets):
        """Each location's distribution focal loss, the mean over its four
        sides, `(batch, N)`, against the sides of `box_targets` (its
        object's "xyxy" box, `(batch, N, 4)`)."""
        points = ops.convert_to_tensor(self._points)
        per_side = ops.convert_to_tensor(self._per_side)
        x, y = points[:, 0], points[:, 1]
        cols, rows = per_side[:, 0], per_side[:, 1]
        distance = ops.stack(
            [
                (x - box_targets[..., 0]) * cols,
                (y - box_targets[..., 1]) * rows,
                (box_targets[..., 2] - x) * cols,
                (box_targets[..., 3] - y) * rows,
            ],
            axis=-1,
        )
        distance = ops.clip(distance, 0.0, self.bins - 1.01)
        lower = ops.floor(distance)
        upper_weight = distance - lower
        shape = ops.shape(y_pred)
        start = 4 + self.num_classes
        raw = ops.reshape(y_pred[..., start:], (shape[0], shape[1], 4, self.bins))
        log_p = ops.log_softmax(raw, axis=-1)
        lower = ops.cast(lower, "int32")
        log_lower = ops.sum(log_p * ops.one_hot(lower, self.bins), axis=-1)
        log_upper = ops.sum(log_p * ops.one_hot(lower + 1, self.bins), axis=-1)
        focal = -((1.0 - upper_weight) * log_lower + upper_weight * log_upper)
        return ops.mean(focal, axis=-1)

    @property
    def term_names(self):
        """The keys of `terms`, in order."""
        return ("classes", "boxes") + (("distributions",) if self.bins else ())

    def call(self, y_true, y_pred):
        return sum(self.terms(y_true, y_pred).values())

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "level_shapes": self.level_shapes,
            "num_classes": self.num_classes,
            "top_k": self.top_k,
            "alpha": self.alpha,
            "beta": self.beta,
            "class_weight": self.class_weight,
            "box_weight": self.box_weight,
            "bins": self.bins,
            "distribution_weight": self.distribution_weight,
        }
