"""Multiply-adds and FLOPs per layer: the notes' cost formula."""

from __future__ import annotations

import math

import keras

from components.analysis.model_graph import walk


def layer_macs(layer, input_shape, output_shape):
    """Multiply-adds of one call of `layer` for one example.

    Convolutions: the notes' "input depth x output depth x output width x
    output height x kernel width x kernel height" (divided by `groups`, whose
    filters each see only their share of the input channels). Dense layers:
    inputs x units (per position, for inputs with more than one axis). Other
    layers (pooling, batch norm, activations, bias additions) count 0, as in
    the papers whose figures are quoted.
    """
    if isinstance(
        layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D
    ):
        if isinstance(
            layer, keras.layers.DepthwiseConv2D | keras.layers.SeparableConv2D
        ):
            raise NotImplementedError(
                f"flops does not count {type(layer).__name__} yet."
            )
        groups = getattr(layer, "groups", 1)
        in_channels = input_shape[-1]
        positions = math.prod(output_shape[1:-1])
        return (
            positions
            * output_shape[-1]
            * math.prod(layer.kernel_size)
            * in_channels
            // groups
        )
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(input_shape[1:-1]) if len(input_shape) > 2 else 1
        return positions * input_shape[-1] * layer.units
    return 0


def flops(model):
    """Per-layer multiply-adds and FLOPs of a model, for one example.

    Convention: one multiply-add (MAC) is a multiplication and an addition,
    so `flops = 2 * macs`; only convolutions and dense layers are counted (see
    `layer_macs`). Published figures that this reproduces at 224x224: VGG16
    15.5 G multiply-adds, GoogLeNet 1.6 G (the paper: "1.5 billion"),
    AlexNet (227x227) 0.72 G. Nested models are entered; their layers appear
    as `"outer/inner"`.

    Args:
        model: A functional or Sequential `keras.Model` with a known input size.

    Returns:
        A dict: `layers`, a list of rows `{"name", "type", "macs", "flops"}`
        for the layers that cost something; `total_macs`; `total_flops`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    >>> flops(model)["total_macs"]  # 6 x 6 positions x 4 filters x 3x3x3
    3888
    """
    rows = []
    for node, _ in walk(model):
        layer = node.operation
        if isinstance(layer, keras.Model):
            inner = flops(layer)
            rows += [
                {**row, "name": f"{layer.name}/{row['name']}"}
                for row in inner["layers"]
            ]
            continue
        if not node.input_tensors:
            continue
        macs = layer_macs(
            layer,
            tuple(node.input_tensors[0].shape),
            tuple(node.output_tensors[0].shape),
        )
        if macs:
            rows.append(
                {
                    "name": layer.name,
                    "type": type(layer).__name__,
                    "macs": macs,
                    "flops": 2 * macs,
                }
            )
    total = sum(row["macs"] for row in rows)
    return {"layers": rows, "total_macs": total, "total_flops": 2 * total}
