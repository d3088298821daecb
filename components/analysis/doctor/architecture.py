"""Static advice from the notes, read off the layer graph (never a failure)."""

from __future__ import annotations

import keras

from components.analysis.doctor.diagnosis import Finding
from components.analysis.model_graph import leaf_layers

LARGE_DENSE = 512  # units: "use dropout after large layers"

_HE = ("HeNormal", "HeUniform")
_GLOROT = ("GlorotUniform", "GlorotNormal")


def _initializer_name(layer):
    init = getattr(layer, "kernel_initializer", None)
    return type(init).__name__ if init is not None else None


def _activation_name(layer):
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", None)


def _follows(layers, index, kind):
    """Whether a layer of `kind` comes before the next weighted layer."""
    for later in layers[index + 1 :]:
        if isinstance(later, kind):
            return True
        if later.trainable_weights:
            return False
    return False


def advice_for(model):
    """The notes' architecture advice that applies to `model`, as strings."""
    layers = list(leaf_layers(model))
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    denses = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    weighted = convs + denses
    advice = []
    norms = (keras.layers.BatchNormalization, keras.layers.LayerNormalization)
    if len(weighted) >= 4 and not any(isinstance(layer, norms) for layer in layers):
        advice.append(
            "No batch normalization in a network of "
            f"{len(weighted)} weighted layers: the notes say always use it."
        )
    for index, layer in enumerate(layers):
        if (
            isinstance(layer, keras.layers.Dense)
            and layer.units >= LARGE_DENSE
            and layer is not denses[-1]
            and not _follows(layers, index, keras.layers.Dropout)
        ):
            advice.append(
                f"{layer.name!r} has {layer.units} units and no dropout after it: "
                "use dropout after large layers."
            )
    for layer in weighted:
        init, act = _initializer_name(layer), _activation_name(layer)
        if act == "relu" and init in _GLOROT:
            advice.append(
                f"{layer.name!r} is ReLU with Glorot init: He init matches ReLU."
            )
        if act in ("tanh", "sigmoid") and init in _HE:
            advice.append(
                f"{layer.name!r} is {act} with He init: Glorot (Xavier) matches it."
            )
    large = [
        layer
        for layer in convs[1:]
        if max(layer.kernel_size) > 3 and max(layer.strides) == 1
    ]
    if large:
        advice.append(
            f"{', '.join(repr(x.name) for x in large[:3])} use kernels above 3x3 "
            "past the first layer: stacks of 3x3 convolutions see as far with fewer "
            "weights and more non-linearities."
        )
    if convs and any(isinstance(layer, keras.layers.Flatten) for layer in layers):
        flattened = sum(
            isinstance(layer, keras.layers.Dense) and layer.units >= LARGE_DENSE
            for layer in denses
        )
        if flattened:
            advice.append(
                "A Flatten + large Dense head after the convolutions: the notes "
                "favour convolutions end to end (global average pooling, 1x1 "
                "convolutions) with far fewer weights."
            )
    return advice


def architecture(context):
    """The notes' architecture advice: batch norm, dropout after large layers,
    initialization matching the activation, 3x3 stacks, convolutions end to
    end. A `warn` per point that applies, never a `fail`."""
    advice = advice_for(context.model)
    status = "warn" if advice else "pass"
    return Finding(
        "architecture",
        status,
        {"points": len(advice)},
        "none of the notes' points apply (a warn per point, never a fail)",
        " ".join(advice),
        {"advice": advice},
    )
