"""Reusable building blocks shared by the model builders."""

from __future__ import annotations

import keras

from components.models.options import CommonOptions

# PyTorch's default. Keras's 0.99 needs a few hundred steps before the moving
# statistics that inference uses catch up, more than a small dataset (digits:
# about 20 steps an epoch) gives in a short run.
BATCH_NORM_MOMENTUM = 0.9
DEFAULTS = CommonOptions()


def _named(name, suffix):
    return f"{name}_{suffix}" if name else None


def batch_norm_layer(name=None):
    """`keras.layers.BatchNormalization` with a momentum suited to short runs."""
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def conv_bn_act(
    x,
    filters,
    kernel_size=3,
    strides=1,
    *,
    options=DEFAULTS,
    padding="same",
    groups=1,
    pool=None,
    activation=True,
    name=None,
):
    """Conv -> batch norm -> non-linearity (-> max-pool), the notes' ordering.

    Batch norm goes "immediately after fully connected layers (or
    convolutional layers), and before non-linearities"; the convolution has
    no bias when batch norm follows (batch norm's offset replaces it). With
    `pool`, a max-pool follows; `options.relu_after_pool` moves the
    non-linearity after it (the same result on 4x fewer activations).
    `padding="same"` at stride 1 is the notes' zero padding (k - 1) / 2.

    Args:
        x: Input tensor `(batch, height, width, channels)`.
        filters: Integer. Output channels.
        kernel_size: Integer. Square kernel size.
        strides: Integer. Stride.
        options: `CommonOptions`. Activation, batch norm, init, penalties.
        padding: `"same"` or `"valid"`.
        groups: Integer. Grouped convolution (AlexNet's two towers).
        pool: `None` or `(pool_size, strides, padding)` of a max-pool to follow.
        activation: Boolean. Apply the non-linearity.
        name: String prefix of the layer names, or `None`.

    Returns:
        The output tensor.
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=not options.batch_norm,
        kernel_initializer=options.initializer("conv"),
        kernel_regularizer=options.regularizer(),
        name=_named(name, "conv"),
    )(x)
    if options.batch_norm:
        x = batch_norm_layer(_named(name, "bn"))(x)
    late = pool is not None and options.relu_after_pool
    if activation and not late:
        x = options.activation_layer(_named(name, "act"))(x)
    if pool is not None:
        size, stride, pool_padding = pool
        x = keras.layers.MaxPooling2D(
            size, stride, padding=pool_padding, name=_named(name, "pool")
        )(x)
    if activation and late:
        x = options.activation_layer(_named(name, "act"))(x)
    return x


def dense_bn_act(x, units, *, options=DEFAULTS, dropout=None, name=None):
    """Dense -> batch norm -> non-linearity -> dropout.

    Glorot initialization by default on dense layers ("use Xavier init on
    FCN") and dropout after the large layer. With `activation="maxout"` the
    dense layer has `2 * units` outputs and `Maxout` keeps the max of each
    pair.
    """
    pieces = 2 if options.activation == "maxout" else 1
    x = keras.layers.Dense(
        units * pieces,
        use_bias=not options.batch_norm,
        kernel_initializer=options.initializer("dense"),
        kernel_regularizer=options.regularizer(),
        name=_named(name, "dense"),
    )(x)
    if options.batch_norm:
        x = batch_norm_layer(_named(name, "bn"))(x)
    if pieces > 1:
        x = options.maxout(units, name=_named(name, "maxout"))(x)
    else:
        x = options.activation_layer(_named(name, "act"), conv=False)(x)
    rate = options.dropout if dropout is None else dropout
    if rate:
        x = keras.layers.Dropout(rate, name=_named(name, "dropout"))(x)
    return x


FEATURES = "features"


def feature_map(x):
    """Marks the end of a builder's feature extractor (an identity layer).

    `components.models.build(..., include_top=False)` cuts the model there,
    as `keras.applications` models do with `include_top=False`: the detectors
    take their backbone's feature map from it rather than guess which layer
    ends the features (SqueezeNet's last 4-D output is its class map).
    """
    return keras.layers.Identity(name=FEATURES)(x)


def classifier(
    x, num_classes, options=DEFAULTS, activation="softmax", name="predictions"
):
    """The output layer: class scores, softmax by default (`None`: raw scores)."""
    return keras.layers.Dense(
        num_classes,
        activation=activation,
        kernel_initializer=options.initializer("dense"),
        kernel_regularizer=options.regularizer(),
        name=name,
    )(x)


def inception(
    x, b1, b3_reduce, b3, b5_reduce, b5, pool_proj, *, options=DEFAULTS, name=None
):
    """GoogLeNet's Inception module: four parallel branches, concatenated.

    1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5; 3x3 max-pool -> 1x1
    projection. The 1x1 reductions keep the 3x3 and 5x5 convolutions cheap.
    """
    branch1 = conv_bn_act(x, b1, 1, options=options, name=_named(name, "1x1"))
    branch3 = conv_bn_act(
        x, b3_reduce, 1, options=options, name=_named(name, "3x3_reduce")
    )
    branch3 = conv_bn_act(branch3, b3, 3, options=options, name=_named(name, "3x3"))
    branch5 = conv_bn_act(
        x, b5_reduce, 1, options=options, name=_named(name, "5x5_reduce")
    )
    branch5 = conv_bn_act(branch5, b5, 5, options=options, name=_named(name, "5x5"))
    pooled = keras.layers.MaxPooling2D(3, 1, padding="same", name=_named(name, "pool"))(
        x
    )
    pooled = conv_bn_act(
        pooled, pool_proj, 1, options=options, name=_named(name, "pool_proj")
    )
    return keras.layers.Concatenate(name=_named(name, "concat"))(
        [branch1, branch3, branch5, pooled]
    )


def fire(x, squeeze, expand1, expand3, *, options=DEFAULTS, name=None):
    """SqueezeNet's Fire module: a 1x1 squeeze, then 1x1 and 3x3 expands, concatenated."""
    s = conv_bn_act(x, squeeze, 1, options=options, name=_named(name, "squeeze"))
    e1 = conv_bn_act(s, expand1, 1, options=options, name=_named(name, "expand1x1"))
    e3 = conv_bn_act(s, expand3, 3, options=options, name=_named(name, "expand3x3"))
    return keras.layers.Concatenate(name=_named(name, "concat"))([e1, e3])
