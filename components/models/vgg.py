"""VGG: stacks of 3x3 convolutions, filters doubling after each 2x2 max-pool."""

from __future__ import annotations

import keras

from components.models.blocks import conv_bn_act, dense_bn_act
from components.models.checks import (
    check_min_input_size,
    check_non_negative,
    check_positive_int,
    check_rate,
)
from components.models.registry import register


@register("vgg")
def vgg(
    input_shape,
    num_classes,
    width=32,
    stages=(2, 2, 2),
    dense_units=256,
    dropout=0.5,
    batch_norm=True,
    activation="relu",
    l2=0.0,
    classifier_activation="softmax",
):
    """Builds a VGG-style network (Simonyan & Zisserman, 2014), scaled by options.

    The notes on VGGNet: small 3x3 filters with stride 1 and zero padding
    (two stacked 3x3 convolutions see 5x5, three see 7x7, with fewer parameters
    and more non-linearities than one large filter); 2x2 max-pools; "the number
    of filters doubles after each maxpool layer" (capped at 8x the first
    stage's, as VGG's 64 -> 512). Batch norm sits between each convolution and
    its non-linearity, He init on convolutions and Glorot on dense layers, and
    dropout after the large dense layer. The defaults suit small inputs
    (digits at 16x16 or 32x32); `width=64, stages=(2, 2, 3, 3, 3)` is VGG16's
    convolutional layout.

    Args:
        input_shape: Tuple. `(height, width, channels)`; each side must be at
            least `2 ** len(stages)`.
        num_classes: Integer. Number of classes.
        width: Integer. Filters of the first stage.
        stages: Tuple of ints. Number of 3x3 convolutions per stage; each stage
            ends with a 2x2 max-pool.
        dense_units: Integer. Units of the hidden dense layer (0: none).
        dropout: Float in [0, 1). Dropout after the hidden dense layer.
        batch_norm: Boolean. Batch norm before each non-linearity.
        activation: String. Keras activation of the hidden layers.
        l2: Float >= 0. L2 penalty on every kernel.
        classifier_activation: String or `None`. Activation of the output
            layer (`None` returns raw scores, as a multiclass SVM needs).

    Returns:
        A `keras.Model` named `"vgg"`.

    Example:

    >>> model = vgg((16, 16, 1), 10, width=8, stages=(1, 1))
    >>> model.output_shape
    (None, 10)
    """
    check_positive_int("width", width)
    if not isinstance(stages, (tuple, list)) or not stages:
        raise ValueError(
            "Invalid value received for argument `stages`. Expected a non-empty "
            f"tuple of positive integers. Received: stages={stages!r}"
        )
    for depth in stages:
        check_positive_int("stages", depth)
    check_positive_int("dense_units", dense_units, minimum=0)
    check_rate("dropout", dropout)
    check_non_negative("l2", l2)
    check_min_input_size(input_shape, len(stages), "vgg")
    regularizer = keras.regularizers.L2(l2) if l2 else None

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for stage, depth in enumerate(stages):
        filters = min(width * 2**stage, width * 8)
        for index in range(depth):
            x = conv_bn_act(
                x,
                filters,
                batch_norm=batch_norm,
                activation=activation,
                kernel_regularizer=regularizer,
                name=f"stage{stage + 1}_{index + 1}",
            )
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage + 1}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = dense_bn_act(
            x,
            dense_units,
            batch_norm=batch_norm,
            activation=activation,
            dropout=dropout,
            kernel_regularizer=regularizer,
            name="fc",
        )
    outputs = keras.layers.Dense(
        num_classes,
        activation=classifier_activation,
        kernel_regularizer=regularizer,
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name="vgg")
