"""A dense, anchor-free detector: a box and class scores at every location of
several feature maps (the design of FCOS and YOLOv8's head).

YOLO's paper predicts from one S x S grid, one class per cell. Detectors
since predict at every location of two or three feature maps of the
backbone (strides 8, 16, 32): small objects from the fine map, large ones
from the coarse map, and a box as the distances from the location to its
four sides. `TaskAlignedLoss` (`dense_loss.py`) trains it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from components import models
from components.checks import check_positive_int, invalid_value
from components.models.blocks import conv_bn_act


def feature_levels(base, min_stride=8):
    """The last tensor at each resolution of a backbone, from stride
    `min_stride` on: `[(tensor, (stride_y, stride_x)), ...]`, finest first.

    Works on any functional backbone (`components.models`), whose stages
    halve the resolution one after another.
    """
    height, width = base.inputs[0].shape[1], base.inputs[0].shape[2]
    last = {}
    for layer in base.layers[1:]:
        shape = getattr(layer.output, "shape", None)
        if shape is None or len(shape) != 4:
            continue
        last[(shape[1], shape[2])] = layer.output
    levels = []
    for (rows, cols), tensor in sorted(last.items(), key=lambda kv: -kv[0][0]):
        stride = (height / rows, width / cols)
        if min(stride) >= min_stride:
            levels.append((tensor, stride))
    return levels


def location_points(image_shape, level_shapes):
    """The centre of every location of every level, in the order of the
    detector's output: `(N, 3)` float32 rows of `x`, `y` (fractions of the
    image) and the level's stride as a fraction of the image's width.

    Example:

    >>> location_points((32, 32), [(2, 2)])[:, :2].tolist()
    [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
    """
    rows_out = []
    for rows, cols in level_shapes:
        y, x = np.meshgrid(
            (np.arange(rows) + 0.5) / rows,
            (np.arange(cols) + 0.5) / cols,
            indexing="ij",
        )
        stride = np.full(rows * cols, 1.0 / cols)
        rows_out.append(np.stack([x.ravel(), y.ravel(), stride], axis=-1))
    return np.concatenate(rows_out).astype("float32")


def level_locations(raw):
    """One level's map `(batch, H, W, D)` flattened to `(batch, H*W, D)`, in
    `location_points`' order, and the function that turns each location's
    four distances (left, top, right, bottom, in strides) into its "xyxy"
    box as fractions of the image."""
    rows, cols, depth = raw.shape[1], raw.shape[2], raw.shape[3]
    points = location_points((rows, cols), [(rows, cols)])
    x = ops.convert_to_tensor(points[:, 0])
    y = ops.convert_to_tensor(points[:, 1])

    def to_boxes(distance):
        left, right = distance[..., 0] / cols, distance[..., 2] / cols
        top, bottom = distance[..., 1] / rows, distance[..., 3] / rows
        return ops.stack([x - left, y - top, x + right, y + bottom], axis=-1)

    return ops.reshape(raw, (-1, rows * cols, depth)), to_boxes


@keras.saving.register_keras_serializable(package="components")
class DistanceBoxes(keras.layers.Layer):
    """One level's raw map `(batch, H, W, 4 + C)` to `(batch, H*W, 4 + C)`:
    the first four become the box, as "xyxy" fractions of the image, the
    others (class logits) pass through.

    The four raw outputs are the distances from the location's centre to the
    box's left, top, right and bottom sides, in strides after a softplus
    (positive, and smooth at 0 where an exponential would overflow).

    Example:

    >>> import numpy as np
    >>> layer = DistanceBoxes()
    >>> out = layer(np.zeros((1, 2, 2, 5), "float32"))
    >>> [round(float(v), 3) for v in out[0, 0, :4]]  # softplus(0) = 0.693 strides
    [-0.097, -0.097, 0.597, 0.597]

    It computes in float32 whatever the global dtype policy (its input is
    cast): under `mixed_bfloat16` a box corner in [0, 1] would keep 8 bits,
    about a pixel at 224 px.
    """

    level_output = True  # `level_shapes` finds the levels by it

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, raw):
        raw, to_boxes = level_locations(raw)
        boxes = to_boxes(ops.softplus(raw[..., :4]))
        return ops.concatenate([boxes, raw[..., 4:]], axis=-1)

    def compute_output_shape(self, input_shape):
        batch, rows, cols, depth = input_shape
        return (batch, rows * cols, depth)


def dense_detector(
    input_shape,
    num_classes,
    backbone="vgg",
    head_width=64,
    min_stride=8,
    **backbone_options,
):
    """Builds a dense detector: image in, `(batch, N, 4 + C)` out.

    Every location of the backbone's feature maps from stride `min_stride`
    on (8 and 16 for the recipes' four-stage VGG) predicts a box, as "xyxy"
    fractions of the image, and C class logits (a sigmoid per class, not a
    softmax: a location may see no object). A small top-down path (FPN)
    brings the coarse map's context to the fine one; each level then has two
    3x3 conv-bn-ReLU layers and a 1x1 convolution of its own. The levels'
    locations are concatenated, finest first, in `location_points`' order.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: Positive integer C.
        backbone: String. A registered builder name (`models.available()`).
        head_width: Positive integer. Channels of the neck and head layers.
        min_stride: Positive integer. The finest level's stride.
        **backbone_options: Options of the backbone builder.

    Returns:
        A `keras.Model` named `dense_<backbone>` (`level_shapes(model)`
        lists each level's `(rows, cols)`).

    Example:

    >>> model = dense_detector((64, 64, 3), 3, width=4, stages=(1, 1, 1, 1))
    >>> model.output.shape  # 8x8 + 4x4 locations, 4 + 3 numbers each
    (None, 80, 7)
    """
    check_positive_int("num_classes", num_classes)
    check_positive_int("head_width", head_width)
    check_positive_int("min_stride", min_stride)
    base = models.build(
        backbone,
        input_shape,
        max(num_classes, 2),
        include_top=False,
        **backbone_options,
    )
    levels = feature_levels(base, min_stride)
    if not levels:
        raise ValueError(
            invalid_value(
                "min_stride",
                min_stride,
                f"at most the {backbone} backbone's coarsest stride at input "
                f"{tuple(input_shape)}",
            )
        )
    # Top-down: each level gets the coarser one's features, upsampled.
    fused, above = [], None
    for index in reversed(range(len(levels))):
        tensor, _ = levels[index]
        x = keras.layers.Conv2D(head_width, 1, name=f"lateral{index + 1}")(tensor)
        if above is not None:
            factor = (x.shape[1] // above.shape[1], x.shape[2] // above.shape[2])
            up = keras.layers.UpSampling2D(factor, name=f"up{index + 1}")(above)
            x = keras.layers.Add(name=f"fuse{index + 1}")([x, up])
        fused.insert(0, x)
        above = x
    outputs = []
    for index, x in enumerate(fused):
        for layer in range(2):
            x = conv_bn_act(x, head_width, 3, name=f"head{index + 1}_{layer + 1}")
        raw = keras.layers.Conv2D(
            4 + num_classes,
            1,
            # A class prior of 1%: the many background locations start near
            # their target, so the first steps are not spent unlearning 0.5.
            bias_initializer=keras.initializers.Constant(
                [0.0] * 4 + [float(-np.log(99.0))] * num_classes
            ),
            name=f"output{index + 1}",
        )(x)
        outputs.append(DistanceBoxes(name=f"boxes{index + 1}")(raw))
    output = (
        outputs[0]
        if len(outputs) == 1
        else keras.layers.Concatenate(axis=1, name="locations", dtype="float32")(
            outputs
        )
    )
    return keras.Model(base.inputs[0], output, name=f"dense_{backbone}")


def level_shapes(model):
    """`(rows, cols)` of each level of a `dense_detector` or a
    `yolov8_detector`, finest first."""
    return [
        (layer.input.shape[1], layer.input.shape[2])
        for layer in model.layers
        if getattr(layer, "level_output", False)
    ]
