"""Receptive fields of every layer, in input pixels."""

from __future__ import annotations

import keras

from components.analysis.model_graph import is_global, spatial_params, walk


def _propagate(model, rf, jump, whole):
    """Receptive field and jump (product of strides) after `model`.

    Returns `(per_layer, rf, jump)`; `rf` is `None` once a layer has pooled or
    flattened over everything (the whole input).
    """
    per_layer, state = {}, {}
    final = (rf, jump)
    for node, parents in walk(model):
        layer = node.operation
        if parents:
            incoming = [state[id(p)] for p in parents]
            if any(r is None for r, _ in incoming):
                here = (None, max(j for _, j in incoming))
            else:
                here = (max(r for r, _ in incoming), max(j for _, j in incoming))
        else:
            here = (rf, jump)
        r, j = here
        if r is not None:
            params = spatial_params(layer)
            if isinstance(layer, keras.Model):
                inner, inner_rf, inner_jump = _propagate(layer, 1, 1, whole)
                per_layer.update({f"{layer.name}/{k}": v for k, v in inner.items()})
                r = None if inner_rf is None else r + (inner_rf - 1) * j
                j = j * inner_jump
            elif params is not None:
                kernel, stride, dilation = params
                r = r + (dilation * (kernel - 1)) * j
                j = j * stride
            elif is_global(layer):
                r = None
        state[id(node)] = (r, j)
        per_layer[layer.name] = r
        final = (r, j)
    for name, value in per_layer.items():
        if value is None:
            per_layer[name] = whole
    return per_layer, final[0], final[1]


def receptive_field(model):
    """Receptive field of every layer of a model, in input pixels (one side).

    A neuron of a layer sees an `r x r` window of the input. Through a layer
    with kernel K, stride S and dilation D, `r` grows by `D * (K - 1)` times
    the product of the strides before it. Merges (Inception's concatenation)
    take the largest of their inputs; after a flatten or a global pool a
    neuron sees the whole input, reported as the input's height. Nested
    models are entered; their layers appear as `"outer/inner"`. The notes:
    two stacked 3x3 convolutions see 5x5, three see 7x7, and dilated stacks
    grow faster. Square kernels are assumed (the height axis is used).

    Args:
        model: A functional or Sequential `keras.Model`.

    Returns:
        A dict from layer name to receptive field size.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((32, 32, 3))] + [
    ...     keras.layers.Conv2D(8, 3, padding="same", name=f"c{i}") for i in range(3)])
    >>> receptive_field(model)
    {'c0': 3, 'c1': 5, 'c2': 7}
    """
    whole = model.inputs[0].shape[1]
    per_layer, _, _ = _propagate(model, 1, 1, whole)
    input_names = {t._keras_history.operation.name for t in model.inputs}
    return {k: v for k, v in per_layer.items() if k not in input_names}
