"""The notes' FC-to-CONV conversion: dense layers after a flatten become convolutions."""

from __future__ import annotations

import keras

from components.analysis.model_graph import walk


def _chain(model):
    """The model's layers as a single chain, or a clear error."""
    layers = []
    for node, parents in walk(model):
        if len(parents) > 1 or len(node.output_tensors) > 1:
            raise ValueError(
                "dense_to_conv converts models that are a single chain of layers; "
                f"layer {node.operation.name!r} merges or splits branches."
            )
        layers.append(node.operation)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("dense_to_conv expects a model with one input and one output.")
    return layers


def dense_to_conv(model):
    """Converts the dense layers that follow a `Flatten` into convolutions.

    CS231n: "any FC layer can be converted to a CONV layer. For example, an FC
    layer with K=4096 that is looking at some input volume of size 7x7x512
    can be equivalently expressed as a CONV layer with F=7, P=0, S=1,
    K=4096". The first dense layer becomes an `F x F` valid convolution over
    the flattened volume, the following ones 1x1 convolutions; weights are
    copied (a channels-last `Flatten` orders features as height, width,
    channel, which is exactly a kernel's layout). The converted model accepts
    any input size at least as large as the original: on the original size
    its `(batch, 1, 1, K)` output equals the original `(batch, K)`; on a
    larger image it slides the whole classifier over it in one pass and
    returns a spatial map of scores, one per window at the network's total
    stride. For a network with valid padding each score equals the original
    model on that crop; with "same" padding the windows near a crop's border
    see real neighbours instead of zeros, so they differ slightly.

    Args:
        model: A Sequential or functional model that is one chain of layers,
            with a `Flatten` followed by dense layers (and layers that work
            per feature in between: activations, dropout, batch norm).

    Returns:
        A new `keras.Model` with input `(None, None, channels)`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
    ...     keras.layers.Flatten(), keras.layers.Dense(5)])
    >>> conv = dense_to_conv(model)
    >>> tuple(conv(np.zeros((1, 12, 12, 3))).shape)  # a 5x5 map of 5 scores
    (1, 5, 5, 5)
    """
    layers = _chain(model)
    flatten_at = [
        i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Flatten)
    ]
    if len(flatten_at) != 1:
        raise ValueError(
            f"dense_to_conv expects exactly one Flatten layer; found {len(flatten_at)}."
        )
    start = flatten_at[0]
    if not any(isinstance(layer, keras.layers.Dense) for layer in layers[start + 1 :]):
        raise ValueError("dense_to_conv found no Dense layer after the Flatten.")
    volume = tuple(layers[start].input.shape[1:])
    if len(volume) != 3:
        raise ValueError(
            f"dense_to_conv expects the Flatten to see a (height, width, channels) "
            f"volume. Received: {volume}"
        )

    channels = model.inputs[0].shape[-1]
    inputs = keras.Input((None, None, channels), name="images")
    x = inputs
    first_dense = True
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.InputLayer) or index == start:
            continue
        if index < start:
            x = layer(x)  # convolutional part: shared as is, any input size
        elif isinstance(layer, keras.layers.Dense):
            kernel, *bias = layer.get_weights()
            size = volume[:2] if first_dense else (1, 1)
            depth = volume[2] if first_dense else kernel.shape[0]
            conv = keras.layers.Conv2D(
                layer.units,
                size,
                activation=layer.activation,
                use_bias=layer.use_bias,
                name=f"{layer.name}_as_conv",
            )
            x = conv(x)
            conv.set_weights([kernel.reshape(*size, depth, layer.units), *bias])
            first_dense = False
        else:
            # A per-feature layer (batch norm, activation, dropout) was built
            # for (batch, features) inputs: a copy with its weights takes the
            # (batch, h, w, features) maps.
            clone = type(layer).from_config(layer.get_config())
            x = clone(x)
            clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=f"{model.name}_fully_convolutional")
