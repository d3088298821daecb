"""SqueezeNet: Fire modules and a convolutional classifier, no dense layer."""

from __future__ import annotations

import keras

from components.checks import check_fits
from components.models.blocks import conv_bn_act, feature_map, fire
from components.models.options import preset_options
from components.models.registry import register

PRESETS = {
    # 32x32 inputs: 3x3 stem, five Fire modules at `width`/16 of SqueezeNet
    # 1.0's channels (width 16: the paper's), 32 -> 16 -> 8 -> 4.
    "small": {
        "stem": (96, 3, 1, "same"),
        "pool": (2, 2, "valid"),
        "fires": [
            (16, 64, 64),
            (16, 64, 64),
            "pool",
            (32, 128, 128),
            (48, 192, 192),
            "pool",
            (64, 256, 256),
        ],
        "width": 8,
    },
    # SqueezeNet 1.0 (Iandola et al., 2016, table 1) at 224x224.
    "paper": {
        "stem": (96, 7, 2, "valid"),
        "pool": (3, 2, "valid"),
        "fires": [
            (16, 64, 64),
            (16, 64, 64),
            (32, 128, 128),
            "pool",
            (32, 128, 128),
            (48, 192, 192),
            (48, 192, 192),
            (64, 256, 256),
            "pool",
            (64, 256, 256),
        ],
        "width": 16,
        "common": {"batch_norm": False},
    },
}


@register("squeezenet", presets=PRESETS)
def squeezenet(
    input_shape,
    num_classes,
    preset="small",
    width=None,
    classifier_activation="softmax",
    **common,
):
    """Builds SqueezeNet 1.0 (Iandola et al., 2016).

    The notes: "if your input data has a spatial parameter try to go for
    CNN's end to end (read SqueezeNet)". Fire modules squeeze the channels
    with 1x1 convolutions, then expand with parallel 1x1 and 3x3 ones; the
    classifier is a 1x1 convolution to `num_classes` maps followed by global
    average pooling: no fully connected layer at all.

    Presets: `"small"` (3x3 stem, five Fire modules at half the paper's
    channels) for 32x32 inputs; `"paper"`, SqueezeNet 1.0 at `(224, 224, 3)`:
    1,248,424 parameters for 1,000 classes (the paper: 1.25M, "50x fewer
    than AlexNet").

    Args:
        input_shape: Tuple. `(height, width, channels)`.
        num_classes: Integer. Number of classes.
        preset: `"small"` or `"paper"`.
        width: Integer or `None`. Channels relative to the paper's 16 (16:
            the paper's channel counts; 8: half).
        classifier_activation: String or `None`. Applied after the average
            pool.
        **common: `CommonOptions` (`dropout` is the rate before the
            classifier convolution).

    Returns:
        A `keras.Model` named `"squeezenet"`.

    Example:

    >>> squeezenet((32, 32, 3), 10, width=2).output_shape
    (None, 10)
    """
    settings, options = preset_options("squeezenet", preset, PRESETS, common, width)
    width = settings["width"]
    filters, kernel, stride, padding = settings["stem"]
    pool = settings["pool"]
    steps = [(kernel, stride, padding), pool] + [
        pool for f in settings["fires"] if f == "pool"
    ]
    check_fits(input_shape, steps, "squeezenet")

    def scaled(channels):
        return max(1, channels * width // 16)

    inputs = keras.Input(input_shape, name="images")
    x = conv_bn_act(
        inputs,
        scaled(filters),
        kernel,
        stride,
        options=options,
        padding=padding,
        pool=pool,
        name="conv1",
    )
    for index, spec in enumerate(settings["fires"]):
        if spec == "pool":
            x = keras.layers.MaxPooling2D(*pool, name=f"pool{index}")(x)
            continue
        x = fire(
            x, *(scaled(c) for c in spec), options=options, name=f"fire{index + 2}"
        )
    x = feature_map(x)
    if options.dropout:
        x = keras.layers.Dropout(options.dropout, name="dropout")(x)
    # The paper's conv10: class maps, ReLU, then the average over positions.
    x = keras.layers.Conv2D(
        num_classes,
        1,
        kernel_initializer=options.initializer("conv"),
        kernel_regularizer=options.regularizer(),
        name="conv10",
    )(x)
    x = keras.layers.Activation("relu", name="conv10_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Activation(
        classifier_activation or "linear", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name="squeezenet")
