"""The YOLO loss (Redmon et al., 2016), as a serializable Keras loss."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import check_positive_int


def split_predictions(y_pred, boxes_per_cell):
    """Raw YOLO outputs `(..., S, S, 5B + C)` to activated parts.

    Returns `(xy, sqrt_wh, confidence, class_probs)`: `xy` `(..., S, S, B, 2)`
    (sigmoid: the centre within the cell), `sqrt_wh` `(..., S, S, B, 2)`
    (sigmoid: the square roots of width and height relative to the image),
    `confidence` `(..., S, S, B)` (sigmoid) and `class_probs` `(..., S, S, C)`
    (softmax). The network predicts square roots directly, so the loss never
    takes the square root of a prediction (no NaN from negative widths).
    """
    shape = ops.shape(y_pred)
    boxes = ops.reshape(
        y_pred[..., : 5 * boxes_per_cell], (*shape[:-1], boxes_per_cell, 5)
    )
    boxes = ops.sigmoid(boxes)
    class_probs = ops.softmax(y_pred[..., 5 * boxes_per_cell :], axis=-1)
    return boxes[..., :2], boxes[..., 2:4], boxes[..., 4], class_probs


def cell_offsets(grid_size):
    """`(S, S, 1, 2)` column and row index of every cell, as floats."""
    rows, cols = ops.meshgrid(
        ops.arange(grid_size, dtype="float32"),
        ops.arange(grid_size, dtype="float32"),
        indexing="ij",
    )
    return ops.stack([cols, rows], axis=-1)[:, :, None, :]


@keras.saving.register_keras_serializable(package="components")
class YoloLoss(keras.losses.Loss):
    """The sum-squared YOLO loss, term by term as in the paper.

    For each cell holding an object, the predictor whose box has the highest
    IoU with the object is "responsible": its centre and the square roots of
    its width and height regress the object's (weighted by
    `lambda_coord = 5`), and its confidence regresses that IoU. Every other
    predictor's confidence is pushed to 0 (weighted by `lambda_noobj = 0.5`,
    since most cells hold no object). Cells with an object also regress the
    one-hot class with their class probabilities. Square roots of width and
    height make an error on a small box cost more than the same error on a
    large one.

    Predictions are raw outputs (`split_predictions` applies the sigmoid and
    softmax), so the loss is safe for any real-valued prediction.

    Args:
        grid_size: Positive integer S.
        boxes_per_cell: Positive integer B.
        num_classes: Positive integer C.
        lambda_coord: Float. Weight of the box regression.
        lambda_noobj: Float. Weight of the confidence of predictors with no object.

    Example:

    >>> import numpy as np
    >>> from components.detection import encode_yolo_targets
    >>> target = encode_yolo_targets([[8., 8., 40., 40.]], [1], (64, 64), 2, 3)
    >>> loss = YoloLoss(grid_size=2, boxes_per_cell=2, num_classes=3)
    >>> value = loss(target[None], np.zeros((1, 2, 2, 13), "float32"))
    >>> bool(value > 0)
    True
    """

    def __init__(
        self,
        grid_size=7,
        boxes_per_cell=2,
        num_classes=10,
        lambda_coord=5.0,
        lambda_noobj=0.5,
        name="yolo_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.grid_size = check_positive_int("grid_size", grid_size)
        self.boxes_per_cell = check_positive_int("boxes_per_cell", boxes_per_cell)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)

    def _boxes(self, xy, wh):
        """Image-relative "center_xywh" boxes from cell-relative centres."""
        centre = (xy + cell_offsets(self.grid_size)) / self.grid_size
        return ops.concatenate([centre, wh], axis=-1)

    def terms(self, y_true, y_pred):
        """The loss's five terms for each image, weighted as in the paper.

        `coordinates` (the responsible predictors' centres, times
        `lambda_coord`), `sizes` (the square roots of their widths and
        heights, times `lambda_coord`), `object` (their confidences against
        the IoU they reach), `no_object` (every other predictor's confidence
        against 0, times `lambda_noobj`) and `classes` (the class
        probabilities of cells holding an object). The loss is their sum.

        Returns:
            A dict of tensors of shape `(batch,)`.
        """
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        xy, sqrt_wh, confidence, class_probs = split_predictions(
            y_pred, self.boxes_per_cell
        )
        true_xy = y_true[..., None, 0:2]
        true_wh = y_true[..., None, 2:4]
        has_object = y_true[..., 4]

        # IoU of each predicted box with the cell's object (a constant target).
        predicted = self._boxes(xy, ops.square(sqrt_wh))
        truth = self._boxes(true_xy, true_wh)
        cells = -1
        iou = keras.utils.bounding_boxes.compute_iou(
            ops.reshape(predicted, (cells, self.boxes_per_cell, 4)),
            ops.reshape(truth, (cells, 1, 4)),
            "center_xywh",
        )
        iou = ops.stop_gradient(ops.reshape(iou, ops.shape(confidence)))
        best = ops.one_hot(ops.argmax(iou, axis=-1), self.boxes_per_cell)
        responsible = best * has_object[..., None]

        def per_image(per_predictor):  # (..., S, S, B) summed over the image
            return ops.sum(per_predictor, axis=(-3, -2, -1))

        centre_error = ops.sum(ops.square(xy - true_xy), axis=-1)
        size_error = ops.sum(
            ops.square(sqrt_wh - ops.sqrt(ops.maximum(true_wh, 0.0))), axis=-1
        )
        class_error = ops.sum(ops.square(class_probs - y_true[..., 5:]), axis=-1)
        return {
            "coordinates": self.lambda_coord * per_image(responsible * centre_error),
            "sizes": self.lambda_coord * per_image(responsible * size_error),
            "object": per_image(responsible * ops.square(confidence - iou)),
            "no_object": self.lambda_noobj
            * per_image((1.0 - responsible) * ops.square(confidence)),
            "classes": ops.sum(has_object * class_error, axis=(-2, -1)),
        }

    @property
    def term_names(self):
        """The keys of `terms`, in order."""
        return ("coordinates", "sizes", "object", "no_object", "classes")

    def call(self, y_true, y_pred):
        terms = self.terms(y_true, y_pred)
        return (
            terms["coordinates"]
            + terms["sizes"]
            + terms["object"]
            + terms["no_object"]
            + terms["classes"]
        )

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": self.grid_size,
            "boxes_per_cell": self.boxes_per_cell,
            "num_classes": self.num_classes,
            "lambda_coord": self.lambda_coord,
            "lambda_noobj": self.lambda_noobj,
        }
