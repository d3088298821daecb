"""AlexNet: ReLU, overlapping max-pools, local response normalization, dropout."""

from __future__ import annotations

import keras

from components.checks import check_fits, invalid_value
from components.layers import LocalResponseNormalization
from components.models.blocks import classifier, conv_bn_act, dense_bn_act, feature_map
from components.models.options import preset_options
from components.models.registry import register

NORMALIZATIONS = ("lrn", "none")

# (filters, kernel, stride, padding, groups, pool after) per convolution.
PRESETS = {
    "small": {
        "convs": [
            (1, 5, 1, "same", 1, True),
            (2, 5, 1, "same", 1, True),
            (4, 3, 1, "same", 1, False),
            (4, 3, 1, "same", 1, False),
            (2, 3, 1, "same", 1, True),
        ],
        "width": 16,
        "pool": (3, 2, "same"),
        "dense_units": (256, 256),
    },
    # Krizhevsky et al. (2012): 96-256-384-384-256 filters, the second, fourth
    # and fifth convolutions split over two GPUs (groups=2), 227x227 inputs.
    "paper": {
        "convs": [
            (96, 11, 4, "valid", 1, True),
            (256, 5, 1, "same", 2, True),
            (384, 3, 1, "same", 1, False),
            (384, 3, 1, "same", 2, False),
            (256, 3, 1, "same", 2, True),
        ],
        "width": 1,
        "pool": (3, 2, "valid"),
        "dense_units": (4096, 4096),
        "common": {"batch_norm": False},
    },
}


@register("alexnet", presets=PRESETS)
def alexnet(
    input_shape,
    num_classes,
    preset="small",
    normalization="lrn",
    width=None,
    dense_units=None,
    classifier_activation="softmax",
    **common,
):
    """Builds AlexNet (Krizhevsky, Sutskever & Hinton, 2012).

    The notes on AlexNet: ReLU, data augmentation, dropout (on the two large
    fully connected layers). `normalization="lrn"` applies local response
    normalization after the first two convolutions' ReLU, then the max-pool,
    as the paper; `"none"` keeps the max-pool alone, the notes' "MAX > LRN"
    (measure it with `python -m recipes.classify --model alexnet`). Pools are
    3x3 with stride 2, overlapping as in the paper.

    Presets: `"small"` (width 16, same-padded 5x5 / 3x3 convolutions, two
    256-unit dense layers) for 32x32 inputs; `"paper"`, the paper's network at
    `(227, 227, 3)`, with its two-GPU split kept as grouped convolutions:
    60,965,224 parameters for 1,000 classes (the paper: "60 million") and
    0.72 G multiply-adds.

    Args:
        input_shape: Tuple. `(height, width, channels)`.
        num_classes: Integer. Number of classes.
        preset: `"small"` or `"paper"`.
        normalization: `"lrn"` or `"none"`.
        width: Integer or `None`. Multiplier of the small preset's filters
            (1, 2, 4, 4, 2 times it).
        dense_units: Tuple of ints or `None`. Hidden dense layers.
        classifier_activation: String or `None`.
        **common: `CommonOptions`.

    Returns:
        A `keras.Model` named `"alexnet"`.

    Example:

    >>> alexnet((32, 32, 3), 10, width=4, dense_units=(16,)).output_shape
    (None, 10)
    """
    settings, options = preset_options("alexnet", preset, PRESETS, common, width)
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            invalid_value("normalization", normalization, "'lrn' or 'none'")
        )
    if normalization == "lrn" and options.relu_after_pool:
        raise ValueError(
            "Invalid value received for argument `relu_after_pool`. With "
            "normalization='lrn' the ReLU feeds LRN before the pool; use "
            "normalization='none'."
        )
    width = settings["width"]
    dense_units = tuple(settings["dense_units"] if dense_units is None else dense_units)
    steps = []
    for _, kernel, stride, padding, _, pool in settings["convs"]:
        steps.append((kernel, stride, padding))
        if pool:
            steps.append(settings["pool"])
    check_fits(input_shape, steps, "alexnet")

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index, (filters, kernel, stride, padding, groups, pool) in enumerate(
        settings["convs"]
    ):
        name = f"conv{index + 1}"
        lrn = normalization == "lrn" and index < 2
        x = conv_bn_act(
            x,
            filters * width,
            kernel,
            stride,
            options=options,
            padding=padding,
            groups=groups,
            pool=settings["pool"] if pool and not lrn else None,
            name=name,
        )
        if lrn:
            x = LocalResponseNormalization(name=f"{name}_lrn")(x)
            size, strides, pool_padding = settings["pool"]
            x = keras.layers.MaxPooling2D(
                size, strides, pool_padding, name=f"{name}_pool"
            )(x)
    x = feature_map(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(dense_units):
        x = dense_bn_act(x, units, options=options, name=f"fc{index + 1}")
    outputs = classifier(x, num_classes, options, classifier_activation)
    return keras.Model(inputs, outputs, name="alexnet")
