"""Region proposal network (Faster R-CNN): head, and proposals from its outputs."""

from __future__ import annotations

import keras
from keras import ops
from keras.utils import bounding_boxes

from components.checks import check_positive_int, invalid_value
from components.detection.anchors import anchor_grid, decode_deltas


def rpn_head(features, num_anchors, width=128, name="rpn"):
    """Objectness logits and box deltas for every anchor of a feature map.

    Faster R-CNN's RPN: a 3x3 convolution slides over the shared conv
    features, and two sibling 1x1 convolutions give, at each location, one
    objectness logit and 4 box deltas per anchor.

    Args:
        features: Symbolic `(batch, H, W, C)` feature map.
        num_anchors: Positive integer A, anchors per location.
        width: Positive integer. Channels of the 3x3 layer.
        name: String prefix of the layer names.

    Returns:
        `(objectness, deltas)`: `(batch, H * W * A)` logits and
        `(batch, H * W * A, 4)` deltas, in `anchor_grid`'s order.

    Example:

    >>> features = keras.Input((14, 14, 64))
    >>> objectness, deltas = rpn_head(features, num_anchors=9)
    >>> objectness.shape, deltas.shape
    ((None, 1764), (None, 1764, 4))
    """
    check_positive_int("num_anchors", num_anchors)
    check_positive_int("width", width)
    x = keras.layers.Conv2D(
        width, 3, padding="same", activation="relu", name=f"{name}_conv"
    )(features)
    objectness = keras.layers.Conv2D(num_anchors, 1, name=f"{name}_objectness")(x)
    deltas = keras.layers.Conv2D(
        4 * num_anchors,
        1,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name=f"{name}_deltas",
    )(x)
    objectness = keras.layers.Reshape((-1,), name=f"{name}_scores")(objectness)
    deltas = keras.layers.Reshape((-1, 4), name=f"{name}_boxes")(deltas)
    return objectness, deltas


def matrix_nms(boxes, iou_threshold):
    """Which boxes, sorted by score, no higher-scoring box overlaps.

    The vectorized "fast NMS" (Bolya et al., YOLACT, 2019): box `i` is kept
    unless a higher-scoring box overlaps it by more than `iou_threshold`,
    whether or not that box was itself kept; so it may suppress a little
    more than greedy NMS. It needs no loop, so it runs in the model on every
    backend (Keras has no NMS op).

    Args:
        boxes: `(batch, N, 4)` "xyxy" boxes, sorted by decreasing score.
        iou_threshold: Float in [0, 1].

    Returns:
        A boolean `(batch, N)` mask, `True` for the boxes kept.

    Example:

    >>> boxes = [[[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]]]
    >>> ops.convert_to_numpy(matrix_nms(boxes, 0.5)).tolist()
    [[True, False, True]]
    """
    boxes = ops.convert_to_tensor(boxes, "float32")
    iou = bounding_boxes.compute_iou(boxes, boxes, "xyxy")
    count = boxes.shape[1]
    earlier = ops.triu(ops.ones((count, count), "bool"), k=1)  # [j, i]: j < i
    return ops.logical_not(
        ops.any(ops.logical_and(iou > iou_threshold, earlier), axis=1)
    )


@keras.saving.register_keras_serializable(package="components")
class ProposalSelection(keras.layers.Layer):
    """From RPN outputs to a fixed number of region proposals per image.

    Each anchor's deltas are decoded to a box clipped to the image; boxes
    under `min_side` pixels are dropped; the `pre_nms` best by objectness
    go through `matrix_nms`, and the `proposals` best survivors are the
    regions. The regions are constants for the detection head (Faster
    R-CNN's approximate joint training: no gradient flows through the box
    coordinates). When fewer boxes survive NMS, the best suppressed ones
    fill the remaining rows, so the output shape never changes.

    Args:
        image_shape: `(height, width, ...)` of the input images.
        feature_size: `(H, W)` of the feature map the RPN runs on.
        stride: Image pixels per feature-map cell.
        anchor_sizes: Anchor sides in pixels (see `anchor_grid`).
        aspect_ratios: Anchor height / width ratios.
        pre_nms: Positive integer. Best-scored boxes that enter NMS.
        proposals: Positive integer. Regions returned per image.
        iou_threshold: Float in [0, 1]. NMS overlap threshold.
        min_side: Non-negative float. Smallest box side kept, in pixels.

    Call arguments:
        inputs: `[objectness (batch, N), deltas (batch, N, 4)]`.

    Returns:
        `(batch, proposals, 4)` "xyxy" pixel boxes.

    Example:

    >>> select = ProposalSelection((32, 32), (4, 4), 8, (8,), (1,), 16, 5)
    >>> import numpy as np
    >>> regions = select([np.zeros((1, 16)), np.zeros((1, 16, 4))])
    >>> tuple(regions.shape)
    (1, 5, 4)
    """

    def __init__(
        self,
        image_shape,
        feature_size,
        stride,
        anchor_sizes,
        aspect_ratios,
        pre_nms=300,
        proposals=64,
        iou_threshold=0.7,
        min_side=2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("pre_nms", pre_nms)
        check_positive_int("proposals", proposals)
        self.image_shape = tuple(int(v) for v in image_shape[:2])
        self.feature_size = tuple(int(v) for v in feature_size)
        self.stride = float(stride)
        self.anchor_sizes = tuple(float(v) for v in anchor_sizes)
        self.aspect_ratios = tuple(float(v) for v in aspect_ratios)
        self.pre_nms = pre_nms
        self.proposals = proposals
        self.iou_threshold = float(iou_threshold)
        self.min_side = float(min_side)
        self.anchors = anchor_grid(
            self.feature_size, self.stride, self.anchor_sizes, self.aspect_ratios
        )
        if proposals > min(pre_nms, len(self.anchors)):
            raise ValueError(
                invalid_value(
                    "proposals",
                    proposals,
                    f"at most min(pre_nms, anchors) = {min(pre_nms, len(self.anchors))}",
                )
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.proposals, 4)

    def call(self, inputs):
        objectness, deltas = (ops.stop_gradient(x) for x in inputs)
        height, width = self.image_shape
        boxes = decode_deltas(self.anchors, deltas)
        limits = ops.convert_to_tensor([width, height, width, height], "float32")
        boxes = ops.minimum(ops.maximum(boxes, 0.0), limits)
        sides = ops.minimum(
            boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
        )
        valid = sides >= self.min_side
        # No infinities anywhere in this graph: tf2onnx rewrites a float
        # `where` as `cond * x + (1 - cond) * y`, and 0 * inf is NaN there
        # (every proposal of ONNX Runtime moved before this was finite).
        lowest = ops.min(objectness, axis=1, keepdims=True) - 1.0
        scores = ops.where(valid, objectness, lowest)
        count = min(self.pre_nms, len(self.anchors))
        _, order = ops.top_k(scores, count)
        boxes = ops.take_along_axis(boxes, order[..., None], axis=1)
        kept = ops.logical_and(
            matrix_nms(boxes, self.iou_threshold),
            ops.take_along_axis(valid, order, axis=1),
        )
        # Survivors first, then the rest, each in score order: distinct
        # integer ranks (exact in float32), so every runtime's top_k agrees.
        position = ops.arange(count, dtype="float32")
        rank = ops.where(kept, 2.0 * count - position, count - position)
        _, best = ops.top_k(rank, self.proposals)
        return ops.take_along_axis(boxes, best[..., None], axis=1)

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "feature_size": self.feature_size,
            "stride": self.stride,
            "anchor_sizes": self.anchor_sizes,
            "aspect_ratios": self.aspect_ratios,
            "pre_nms": self.pre_nms,
            "proposals": self.proposals,
            "iou_threshold": self.iou_threshold,
            "min_side": self.min_side,
        }
