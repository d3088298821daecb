"""A YOLOv8-class network written on Keras 3: CSP backbone, PAN neck, and a
decoupled head whose box sides are distributions.

The network of Ultralytics' YOLOv8 (Jocher et al. 2023), learned from its
description and rebuilt here from `keras.layers`:

- **Backbone** (CSPDarknet): a 3x3 stride-2 convolution halves the image five
  times; after the second to fifth, a `c2f_block` (cross-stage partial: half
  the channels pass straight through, the other half through `n` residual
  bottlenecks, every intermediate map concatenated) and, at the end, `sppf`
  (three chained 5x5 max-pools: one receptive field at three sizes, pooled).
- **Neck** (PAN): the stride-32 map is upsampled and joined to stride 16, then
  stride 8 (top-down), and strided convolutions carry the result back down to
  16 and 32 (bottom-up), so every level sees fine detail and coarse context.
- **Head** (decoupled): at each of strides 8, 16 and 32 a box branch and a
  class branch of two 3x3 convolutions each. A box side is not one number but
  a distribution over `bins` distances (0 to bins - 1 strides), its
  expectation being the distance (`DistributionBoxes`); the distribution
  focal loss trains it (`TaskAlignedLoss(bins=...)`).

`width` and `depth` scale the channels and the number of bottlenecks:
`SIZES["n"]` and `SIZES["s"]` are YOLOv8n's and YOLOv8s's multipliers.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from components.checks import check_positive_int, invalid_value
from components.detection.dense_model import level_locations
from components.models.blocks import BATCH_NORM_MOMENTUM

# (depth, width, most channels): Ultralytics' yolov8.yaml scales.
SIZES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768)}
BINS = 16  # Ultralytics' reg_max: a side spans 0 to 15 strides
# Ultralytics' BatchNorm2d has eps=1e-3 and momentum 0.03 (0.97 in Keras's
# terms). Here the project's 0.9 (`blocks.BATCH_NORM_MOMENTUM`): at 0.97 the
# moving statistics lagged the weights of a short run so far that, 16 images
# overfit for 120 Adam steps, the loss in inference mode was 16.0 where
# training mode read 3.0 (at 0.9: 2.5 against 2.0).
BN_MOMENTUM, BN_EPSILON = BATCH_NORM_MOMENTUM, 1e-3


def conv(x, filters, kernel_size=1, strides=1, name=None):
    """Conv (no bias) -> batch norm -> SiLU: the network's one convolution."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
    )(x)
    return keras.layers.Activation("silu", name=f"{name}_act")(x)


def c2f_block(x, filters, depth, shortcut=True, name=None):
    """YOLOv8's C2f: a 1x1 convolution split in two halves, `depth` residual
    bottlenecks (two 3x3 convolutions) on the second half one after another,
    then a 1x1 convolution over the concatenation of both halves and every
    bottleneck's output (a cross-stage partial block with all its
    intermediate maps: more gradient paths for few operations).

    Example:

    >>> inputs = keras.Input((16, 16, 8))
    >>> c2f_block(inputs, 16, depth=2, name="demo").shape
    (None, 16, 16, 16)
    """
    hidden = filters // 2
    # Ultralytics splits one 1x1 convolution's 2 * hidden channels in two;
    # two 1x1 convolutions of hidden channels are the same function (batch
    # norm is per channel) and need no split layer in the saved model.
    first = conv(x, hidden, 1, name=f"{name}_in1")
    second = conv(x, hidden, 1, name=f"{name}_in2")
    parts = [first, second]
    for index in range(depth):
        y = conv(parts[-1], hidden, 3, name=f"{name}_b{index + 1}a")
        y = conv(y, hidden, 3, name=f"{name}_b{index + 1}b")
        if shortcut:
            y = keras.layers.Add(name=f"{name}_b{index + 1}_add")([parts[-1], y])
        parts.append(y)
    x = keras.layers.Concatenate(name=f"{name}_cat")(parts)
    return conv(x, filters, 1, name=f"{name}_out")


def sppf(x, filters, pool_size=5, name=None):
    """Spatial pyramid pooling, fast: three chained `pool_size` max-pools
    (receptive fields 5, 9, 13) of a halved map, concatenated, then a 1x1
    convolution."""
    hidden = x.shape[-1] // 2
    x = conv(x, hidden, 1, name=f"{name}_in")
    parts = [x]
    for index in range(3):
        parts.append(
            keras.layers.MaxPooling2D(
                pool_size, strides=1, padding="same", name=f"{name}_pool{index + 1}"
            )(parts[-1])
        )
    x = keras.layers.Concatenate(name=f"{name}_cat")(parts)
    return conv(x, filters, 1, name=f"{name}_out")


def _channels(value, width, most):
    """Ultralytics' rounding: channels scaled by `width`, a multiple of 8."""
    return int(math.ceil(min(value, most) * width / 8) * 8)


def _repeats(value, depth):
    return max(round(value * depth), 1)


@keras.saving.register_keras_serializable(package="components")
class DistributionBoxes(keras.layers.Layer):
    """One level's raw map `(batch, H, W, 4 * bins + C)` to
    `(batch, H*W, 4 + C + 4 * bins)`: the box as "xyxy" fractions of the
    image, the C class logits, then the four sides' raw distributions (for
    the distribution focal loss).

    Each of a location's four sides (distance to the left, top, right and
    bottom edge) is a softmax over `bins` distances 0, 1, ..., bins - 1 in
    strides; the side is its expectation (Li et al. 2020, *Generalized Focal
    Loss*), so a box edge can sit between two bins, and an uncertain edge
    shows as a spread distribution.

    Example:

    >>> import numpy as np
    >>> raw = np.zeros((1, 2, 2, 4 * 4 + 1), "float32")  # 4 bins, 1 class
    >>> out = DistributionBoxes(bins=4)(raw)  # uniform: 1.5 strides a side
    >>> [round(float(v), 3) for v in out[0, 0, :4]]
    [-0.5, -0.5, 1.0, 1.0]

    It computes in float32 whatever the global dtype policy, as
    `DistanceBoxes` does.
    """

    level_output = True  # `dense_model.level_shapes` finds the levels by it

    def __init__(self, bins=BINS, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.bins = check_positive_int("bins", bins, 2)

    def call(self, raw):
        raw, to_boxes = level_locations(raw)
        sides = 4 * self.bins
        distribution = raw[..., :sides]
        boxes = to_boxes(expected_distance(distribution, self.bins))
        return ops.concatenate([boxes, raw[..., sides:], distribution], axis=-1)

    def compute_output_shape(self, input_shape):
        batch, rows, cols, depth = input_shape
        return (batch, rows * cols, depth + 4)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


def expected_distance(distribution, bins):
    """The four sides' expected distances in strides, `(..., 4)`, from their
    raw distributions `(..., 4 * bins)` (bins side by side per side).

    Example:

    >>> import numpy as np
    >>> logits = np.log(np.array([[0.5, 0.5, 0.0, 0.0] * 4], "float32") + 1e-12)
    >>> [round(float(v), 3) for v in expected_distance(logits, 4)[0]]
    [0.5, 0.5, 0.5, 0.5]
    """
    shape = ops.shape(distribution)
    sides = ops.reshape(distribution, (*shape[:-1], 4, bins))
    probabilities = ops.softmax(sides, axis=-1)
    return ops.sum(probabilities * ops.arange(bins, dtype="float32"), axis=-1)


def yolov8_detector(
    input_shape, num_classes, size="n", depth=None, width=None, bins=BINS
):
    """Builds a YOLOv8-class network: image in, `(batch, N, 4 + C + 4 * bins)`
    out, N being every location of the stride-8, -16 and -32 maps.

    Per location: the box as "xyxy" fractions of the image, C class logits (a
    sigmoid each), and each side's distribution over `bins` distances
    (`DistributionBoxes`), the locations concatenated finest first in
    `location_points`' order, as `dense_detector`'s are.

    Args:
        input_shape: `(height, width, channels)`, each side a multiple of 32.
        num_classes: Positive integer C.
        size: String. `"n"`, `"s"` or `"m"`: YOLOv8's depth and width
            multipliers (`SIZES`).
        depth, width: Optional floats overriding the size's multipliers.
        bins: Integer >= 2. Distances a box side's distribution spans.

    Returns:
        A `keras.Model` named `yolov8<size>`.

    Example:

    >>> net = yolov8_detector((64, 64, 3), 3, width=0.0625)
    >>> net.output.shape  # 8x8 + 4x4 + 2x2 locations, 4 + 3 + 64 numbers
    (None, 84, 71)
    """
    check_positive_int("num_classes", num_classes)
    check_positive_int("bins", bins, 2)
    if size not in SIZES:
        raise ValueError(invalid_value("size", size, f"one of {', '.join(SIZES)}"))
    height, width_px = input_shape[0], input_shape[1]
    if height % 32 or width_px % 32:
        raise ValueError(
            invalid_value(
                "input_shape",
                tuple(input_shape),
                "sides that are multiples of 32 (the stride-32 level)",
            )
        )
    d, w, most = SIZES[size]
    d = d if depth is None else float(depth)
    w = w if width is None else float(width)

    def ch(value):
        return _channels(value, w, most)

    inputs = keras.Input(tuple(input_shape), name="images")
    x = conv(inputs, ch(64), 3, 2, name="stem")
    x = conv(x, ch(128), 3, 2, name="down2")
    x = c2f_block(x, ch(128), _repeats(3, d), name="stage2")
    x = conv(x, ch(256), 3, 2, name="down3")
    p3 = c2f_block(x, ch(256), _repeats(6, d), name="stage3")
    x = conv(p3, ch(512), 3, 2, name="down4")
    p4 = c2f_block(x, ch(512), _repeats(6, d), name="stage4")
    x = conv(p4, ch(1024), 3, 2, name="down5")
    x = c2f_block(x, ch(1024), _repeats(3, d), name="stage5")
    p5 = sppf(x, ch(1024), name="sppf")
    # Top-down (FPN): coarse context to the fine levels.
    up = keras.layers.UpSampling2D(2, name="up4")(p5)
    x = keras.layers.Concatenate(name="join4")([up, p4])
    n4 = c2f_block(x, ch(512), _repeats(3, d), shortcut=False, name="top4")
    up = keras.layers.UpSampling2D(2, name="up3")(n4)
    x = keras.layers.Concatenate(name="join3")([up, p3])
    out3 = c2f_block(x, ch(256), _repeats(3, d), shortcut=False, name="out3")
    # Bottom-up (PAN): fine detail back to the coarse levels.
    x = conv(out3, ch(256), 3, 2, name="down_out3")
    x = keras.layers.Concatenate(name="join_out4")([x, n4])
    out4 = c2f_block(x, ch(512), _repeats(3, d), shortcut=False, name="out4")
    x = conv(out4, ch(512), 3, 2, name="down_out4")
    x = keras.layers.Concatenate(name="join_out5")([x, p5])
    out5 = c2f_block(x, ch(1024), _repeats(3, d), shortcut=False, name="out5")
    levels = [out3, out4, out5]

    box_width = max(16, levels[0].shape[-1] // 4, 4 * bins)
    class_width = max(levels[0].shape[-1], min(num_classes, 100))
    outputs = []
    for index, (x, stride) in enumerate(zip(levels, (8, 16, 32))):
        level = index + 3
        b = conv(x, box_width, 3, name=f"box{level}_1")
        b = conv(b, box_width, 3, name=f"box{level}_2")
        # Every bin starts equally likely: a box side of (bins - 1) / 2 strides.
        b = keras.layers.Conv2D(
            4 * bins, 1, bias_initializer="ones", name=f"box{level}_out"
        )(b)
        c = conv(x, class_width, 3, name=f"cls{level}_1")
        c = conv(c, class_width, 3, name=f"cls{level}_2")
        # Ultralytics' class prior: 5 objects per 640 x 640 image, spread
        # over the level's locations and the classes.
        locations = (640 / stride) ** 2
        prior = float(np.log(5 / num_classes / locations))
        c = keras.layers.Conv2D(
            num_classes,
            1,
            bias_initializer=keras.initializers.Constant(prior),
            name=f"cls{level}_out",
        )(c)
        raw = keras.layers.Concatenate(name=f"raw{level}")([b, c])
        outputs.append(DistributionBoxes(bins, name=f"boxes{level}")(raw))
    output = keras.layers.Concatenate(axis=1, name="locations", dtype="float32")(
        outputs
    )
    return keras.Model(inputs, output, name=f"yolov8{size}")


def distribution_bins(model):
    """The `bins` of a `yolov8_detector`'s box sides; 0 for a network whose
    sides are single numbers (`dense_detector`)."""
    for layer in model.layers:
        if isinstance(layer, DistributionBoxes):
            return layer.bins
    return 0
