"""Dead ReLU units and saturated sigmoid / tanh units, measured on a probe batch."""

from __future__ import annotations

import keras
import numpy as np

from components.analysis.model_graph import functional_of, walk


def activation_kind(layer):
    """`"relu"`, `"sigmoid"`, `"tanh"` or `None` for what a layer outputs."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", None)
    return name if name in ("relu", "sigmoid", "tanh") else None


def _build_probe(model):
    """A function from inputs to `{layer path: activations}`, nested models entered."""
    graph_inputs = functional_of(model).inputs
    inputs = graph_inputs[0] if len(graph_inputs) == 1 else graph_inputs
    own, nested = [], []
    for node, _ in walk(model):
        layer = node.operation
        if isinstance(layer, keras.Model):
            nested.append((keras.Model(inputs, node.input_tensors[0]), layer))
        elif activation_kind(layer) and node.output_tensors:
            own.append((layer.name, activation_kind(layer), node.output_tensors[0]))
    own_model = keras.Model(inputs, [t for *_, t in own]) if own else None
    inner = [(prefix, sub, _build_probe(sub)) for prefix, sub in nested]

    def probe(x):
        found = {}
        if own_model is not None:
            values = own_model(x, training=False)
            values = values if isinstance(values, (list, tuple)) else [values]
            for (name, kind, _), value in zip(own, values):
                found[name] = (kind, np.asarray(keras.ops.convert_to_numpy(value)))
        for prefix, sub, sub_probe in inner:
            for name, found_value in sub_probe(prefix(x, training=False)).items():
                found[f"{sub.name}/{name}"] = found_value
        return found

    return probe


def activation_statistics(kind, values):
    """Dead fraction (ReLU) or saturated fraction (sigmoid, tanh) of activations.

    A ReLU unit (a channel, the last axis) is dead when it outputs 0 for every
    probe example at every position. A sigmoid output is saturated outside
    [0.01, 0.99], a tanh output when its magnitude exceeds 0.99: there the
    local gradient is under about 1% of its peak and "kills" the signal.
    """
    if kind == "relu":
        per_unit = values.reshape(-1, values.shape[-1]).max(axis=0)
        return float(np.mean(per_unit <= 0))
    if kind == "sigmoid":
        return float(np.mean((values < 0.01) | (values > 0.99)))
    return float(np.mean(np.abs(values) > 0.99))


class ActivationMonitor(keras.callbacks.Callback):
    """Measures dead ReLU units and saturated sigmoid / tanh units every epoch.

    The notes: "the ReLU units can irreversibly die during training" and
    "sigmoids saturate and kill gradients". At each epoch end, one forward
    pass of a fixed probe batch (in inference mode) through every layer whose
    output is a ReLU, sigmoid or tanh gives, per layer, the fraction of dead
    units (ReLU) or of saturated outputs (sigmoid, tanh); see
    `activation_statistics`. Logs get `dead_relu_fraction` and
    `saturated_fraction` (means over layers of that kind), and `per_layer`
    keeps every epoch's per-layer figures. Works on functional and
    Sequential models, nested ones included.

    Args:
        probe: Array. A fixed batch of inputs. Its forward pass is the cost
            of the monitor: 64 examples are plenty to find a dead unit.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)),
    ...     keras.layers.Dense(4, activation="relu", name="hidden"), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> monitor = ActivationMonitor(np.ones((8, 3)))
    >>> _ = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0, callbacks=[monitor])
    >>> list(monitor.per_layer[0])
    ['hidden']
    """

    def __init__(self, probe):
        super().__init__()
        probe = np.asarray(probe)
        if probe.ndim < 2 or len(probe) == 0:
            raise ValueError(
                "Invalid value received for argument `probe`. Expected a non-empty "
                f"batch of inputs (batch, ...). Received: shape={probe.shape}"
            )
        self.probe = probe

    def on_train_begin(self, logs=None):
        self.per_layer = []
        self._probe_fn = _build_probe(self.model)

    def on_epoch_end(self, epoch, logs=None):
        # Keras has synced the variables (JAX keeps them in its train state
        # mid-epoch) before it calls on_epoch_end: they are current here.
        figures = {
            name: (kind, activation_statistics(kind, values))
            for name, (kind, values) in self._probe_fn(self.probe).items()
        }
        self.per_layer.append({name: value for name, (_, value) in figures.items()})
        if logs is None:
            return
        relu = [v for kind, v in figures.values() if kind == "relu"]
        saturating = [v for kind, v in figures.values() if kind != "relu"]
        if relu:
            logs["dead_relu_fraction"] = float(np.mean(relu))
        if saturating:
            logs["saturated_fraction"] = float(np.mean(saturating))
