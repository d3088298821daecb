"""Reusable building blocks shared by the model builders."""

from __future__ import annotations

import keras

# PyTorch's default. Keras's 0.99 needs a few hundred steps before the moving
# statistics that inference uses catch up, more than a small dataset (digits:
# about 20 steps an epoch) gives in a short run.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm_layer(name=None):
    """`keras.layers.BatchNormalization` with a momentum suited to short runs."""
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def conv_bn_act(
    x,
    filters,
    kernel_size=3,
    strides=1,
    *,
    batch_norm=True,
    activation="relu",
    kernel_initializer="he_normal",
    kernel_regularizer=None,
    name=None,
):
    """Conv -> batch norm -> non-linearity, the notes' ordering.

    The notes: batch norm goes "immediately after fully connected layers (or
    convolutional layers) and before non-linearities"; He initialization for
    ReLU layers. The convolution has no bias when batch norm follows (batch
    norm's own offset replaces it). Padding is `"same"`, i.e. the notes' zero
    padding (k - 1) / 2 at stride 1.

    Args:
        x: Input tensor `(batch, height, width, channels)`.
        filters: Integer. Number of output channels.
        kernel_size: Integer. Square kernel size.
        strides: Integer. Stride.
        batch_norm: Boolean. Insert `BatchNormalization` before the activation.
        activation: String or `None`. Keras activation name.
        kernel_initializer: Initializer for the kernel.
        kernel_regularizer: Regularizer for the kernel, or `None`.
        name: String prefix of the layer names, or `None`.

    Returns:
        The output tensor.
    """
    conv = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv" if name else None,
    )
    x = conv(x)
    if batch_norm:
        x = batch_norm_layer(name=f"{name}_bn" if name else None)(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


def dense_bn_act(
    x,
    units,
    *,
    batch_norm=True,
    activation="relu",
    dropout=0.0,
    kernel_initializer="glorot_uniform",
    kernel_regularizer=None,
    name=None,
):
    """Dense -> batch norm -> non-linearity -> dropout.

    Glorot initialization by default on dense layers, as the notes advise
    ("use Xavier init on FCN"), and dropout after the large layer.
    """
    x = keras.layers.Dense(
        units,
        use_bias=not batch_norm,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_dense" if name else None,
    )(x)
    if batch_norm:
        x = batch_norm_layer(name=f"{name}_bn" if name else None)(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout" if name else None)(x)
    return x
