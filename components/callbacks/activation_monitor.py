"""Dead ReLU units and saturated sigmoid / tanh units, measured on a probe batch."""

from __future__ import annotations

import keras
import numpy as np

from components.analysis.activations import activation_kind, activation_statistics
from components.analysis.model_graph import layer_probe


def _build_probe(model):
    """A function from inputs to `{layer path: (kind, activations)}`."""
    probe = layer_probe(model, lambda layer: activation_kind(layer) is not None)
    return lambda x: {
        name: (activation_kind(layer), out) for name, layer, _, out in probe(x)
    }


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
