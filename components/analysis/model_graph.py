"""Walks the layer graph of a functional (or Sequential) Keras model."""

from __future__ import annotations

import keras
import numpy as np


def functional_of(model):
    """The functional graph behind `model` (a built Sequential wraps one)."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                "The Sequential model is not built: give it a `keras.Input` first."
            )
        return graph
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"Expected a functional or Sequential keras.Model. Received: "
            f"{type(model).__name__}, whose layer graph cannot be read."
        )
    return model


def leaf_layers(model):
    """Every layer of `model` that is not itself a model, nested models entered."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def walk(model):
    """Yields `(node, parents)` in topological order, inputs first.

    A node is one call of a layer in this model (`node.operation` is the
    layer, `node.input_tensors` / `node.output_tensors` its tensors);
    `parents` are the nodes that produced its inputs. This reads the same
    structure as Keras's own `model.summary()`.
    """
    graph = functional_of(model)
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            yield node, node.parent_nodes


def spatial_params(layer):
    """`(kernel, stride, dilation)` along the height axis, or `None`.

    Only for layers that slide a window: convolutions and local pooling.
    """
    if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
        return layer.pool_size[0], layer.strides[0], 1
    kernel = getattr(layer, "kernel_size", None)
    if kernel is not None and hasattr(layer, "strides"):
        dilation = getattr(layer, "dilation_rate", (1,))
        return kernel[0], layer.strides[0], dilation[0]
    return None


def is_global(layer):
    """Layers after which every output sees the whole input."""
    global_pools = (
        keras.layers.GlobalAveragePooling2D,
        keras.layers.GlobalMaxPooling2D,
        keras.layers.Flatten,
    )
    return isinstance(layer, global_pools)


def layer_probe(model, select, training=False):
    """A function from inputs to the inputs and outputs of chosen layers.

    Args:
        model: A functional or Sequential `keras.Model`; nested models are
            entered (their layers are named `<model>/<layer>`).
        select: Callable `layer -> bool`: the layers to read.
        training: Boolean. The mode of the forward pass (batch norm on batch
            statistics and dropout active when `True`).

    Returns:
        A function `x -> [(name, layer, input, output)]`, in graph order, the
        arrays as NumPy.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)),
    ...     keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="out")])
    >>> [(n, i.shape, o.shape) for n, _, i, o in layer_probe(
    ...     model, lambda layer: True)(np.ones((2, 3)))]
    [('hidden', (2, 3), (2, 4)), ('out', (2, 4), (2, 1))]
    """
    graph_inputs = functional_of(model).inputs
    inputs = graph_inputs[0] if len(graph_inputs) == 1 else graph_inputs
    parts = []  # ("own", name, layer, in, out) or ("nested", prefix model, sub)
    for node, _ in walk(model):
        layer = node.operation
        if isinstance(layer, keras.Model):
            prefix = keras.Model(inputs, node.input_tensors[0])
            parts.append(
                ("nested", prefix, layer, layer_probe(layer, select, training))
            )
        elif select(layer) and node.output_tensors and node.input_tensors:
            parts.append(("own", layer, node.input_tensors[0], node.output_tensors[0]))
    own = [p for p in parts if p[0] == "own"]
    flat = [t for p in own for t in p[2:]]
    own_model = keras.Model(inputs, flat) if own else None

    def probe(x):
        values = {}
        if own_model is not None:
            arrays = own_model(x, training=training)
            arrays = arrays if isinstance(arrays, (list, tuple)) else [arrays]
            arrays = [np.asarray(keras.ops.convert_to_numpy(a)) for a in arrays]
            for index, part in enumerate(own):
                values[id(part)] = arrays[2 * index : 2 * index + 2]
        found = []
        for part in parts:
            if part[0] == "own":
                found.append((part[1].name, part[1], *values[id(part)]))
            else:
                _, prefix, sub, sub_probe = part
                for name, layer, a, b in sub_probe(prefix(x, training=training)):
                    found.append((f"{sub.name}/{name}", layer, a, b))
        return found

    return probe
