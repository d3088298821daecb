"""VGG: stacks of 3x3 convolutions, filters doubling after each 2x2 max-pool."""

from __future__ import annotations

import keras

from components.checks import check_fits, check_positive_int, invalid_value
from components.models.blocks import classifier, conv_bn_act, dense_bn_act, feature_map
from components.models.options import preset_options
from components.models.registry import register

# Convolutions per stage of the paper's configurations A, B, D and E.
DEPTHS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}

PRESETS = {
    "small": {"width": 16, "stages": (2, 2, 2), "dense_units": (256,)},
    "paper": {
        "width": 64,
        "stages": DEPTHS[16],
        "dense_units": (4096, 4096),
        "common": {"batch_norm": False, "dropout": 0.5},
    },
}


@register("vgg", presets=PRESETS)
def vgg(
    input_shape,
    num_classes,
    preset="small",
    depth=None,
    width=None,
    stages=None,
    dense_units=None,
    classifier_activation="softmax",
    **common,
):
    """Builds a VGG network (Simonyan & Zisserman, 2014).

    The notes on VGGNet: small 3x3 filters with stride 1 and zero padding (two
    stacked see 5x5, three see 7x7, with fewer parameters and more
    non-linearities than one large filter); 2x2 max-pools; "the number of
    filters doubles after each maxpool layer" (capped at 8x the first stage's,
    as VGG's 64 -> 512). Batch norm between each convolution and its
    non-linearity, He init on convolutions, Glorot on dense layers, dropout
    after the large dense layers.

    Presets: `"small"` (width 16, three stages of two convolutions, one
    256-unit dense layer, batch norm) trains on digits in a minute;
    `"paper"` is VGG at 224x224 without batch norm, two 4096-unit dense layers
    and `depth` 11, 13, 16 (default) or 19. `preset="paper", depth=16` at
    `(224, 224, 3)` with 1,000 classes has exactly the 138,357,544 parameters
    of `keras.applications.VGG16(weights=None)` (the paper's table 2: 138M).

    Args:
        input_shape: Tuple. `(height, width, channels)`; each side at least
            `2 ** number_of_stages`.
        num_classes: Integer. Number of classes.
        preset: `"small"` or `"paper"`.
        depth: 11, 13, 16, 19 or `None`. The paper's stage layout.
        width: Integer or `None`. Filters of the first stage.
        stages: Tuple of ints or `None`. Convolutions per stage (overrides
            `depth`).
        dense_units: Integer, tuple of ints or `None`. Hidden dense layers (0
            or `()`: none).
        classifier_activation: String or `None`. `None` returns raw scores.
        **common: `CommonOptions`: activation, batch_norm, dropout, l1, l2,
            init, relu_after_pool.

    Returns:
        A `keras.Model` named `"vgg"`.

    Example:

    >>> model = vgg((16, 16, 1), 10, width=8, stages=(1, 1))
    >>> model.output_shape
    (None, 10)
    """
    settings, options = preset_options("vgg", preset, PRESETS, common, width)
    if depth is not None and depth not in DEPTHS:
        raise ValueError(invalid_value("depth", depth, "one of 11, 13, 16, 19"))
    width = settings["width"]
    if stages is None:
        stages = DEPTHS[depth] if depth else settings["stages"]
    if not isinstance(stages, (tuple, list)) or not stages:
        raise ValueError(
            invalid_value("stages", stages, "a non-empty tuple of positive integers")
        )
    for count in stages:
        check_positive_int("stages", count)
    if dense_units is None:
        dense_units = settings["dense_units"]
    dense_units = (dense_units,) if isinstance(dense_units, int) else tuple(dense_units)
    for units in dense_units:
        check_positive_int("dense_units", units, minimum=0)
    check_fits(input_shape, [(2, 2, "valid")] * len(stages), "vgg")

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for stage, count in enumerate(stages):
        filters = min(width * 2**stage, width * 8)
        for index in range(count):
            last = index == count - 1
            x = conv_bn_act(
                x,
                filters,
                options=options,
                pool=(2, 2, "valid") if last else None,
                name=f"stage{stage + 1}_{index + 1}",
            )
    x = feature_map(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(u for u in dense_units if u):
        x = dense_bn_act(x, units, options=options, name=f"fc{index + 1}")
    outputs = classifier(x, num_classes, options, classifier_activation)
    return keras.Model(inputs, outputs, name="vgg")
