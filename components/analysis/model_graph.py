"""Walks the layer graph of a functional (or Sequential) Keras model."""

from __future__ import annotations

import keras


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
