"""What every check reads: the data as batches, the loss, clones of the model.

The user's model is never trained or changed: checks that train work on
`clone()`s, which copy its weights; everything measured on the model itself
is a stateless forward or backward pass.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from components.analysis.layer_gradients import mean_loss, variable_gradients
from components.analysis.model_graph import layer_probe, leaf_layers

POOL_SIZE = 512  # examples read from the data for every check


def _is_model_layer(layer):
    return isinstance(layer, keras.Model)


def _without_regularization(layer):
    """The layer's config with dropout and weight penalties off."""
    config = layer.get_config()
    changed = False
    if isinstance(layer, keras.layers.Dropout) or "Dropout" in type(layer).__name__:
        if "rate" in config:
            config["rate"] = 0.0
            changed = True
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        if config.get(key) is not None:
            config[key] = None
            changed = True
    return config, changed


def _clone_layer(layer, regularize):
    if _is_model_layer(layer):
        return keras.models.clone_model(
            layer, clone_function=functools.partial(_clone_layer, regularize=regularize)
        )
    if regularize:
        return layer.__class__.from_config(layer.get_config())
    config, _ = _without_regularization(layer)
    return layer.__class__.from_config(config)


def read_pool(data, size=POOL_SIZE, max_batches=64):
    """The first `size` examples and the label order of the first batches.

    Returns `(x, y, order, batch_size, arrays)`: `order` the labels in the
    order the model sees them (for a dataset), `arrays` whether `data` was
    arrays (which `fit` shuffles itself).
    """
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(
                f"Expected `data` as (x, y) arrays; received a sequence of {len(data)}."
            )
        x, y = (np.asarray(v) for v in data)
        if len(x) != len(y):
            raise ValueError(
                f"Expected x and y of the same length; received {len(x)} and {len(y)}."
            )
        if len(x) == 0:
            raise ValueError("The data holds no examples.")
        return x[:size], y[:size], y[: size * 4], min(32, len(x)), True
    if not hasattr(data, "as_numpy_iterator"):
        raise ValueError(
            "Expected `data` as a tf.data.Dataset of (x, y) batches or a tuple of "
            f"arrays; received {type(data).__name__}."
        )
    xs, ys, order, batch = [], [], [], None
    for index, element in enumerate(data.take(max_batches).as_numpy_iterator()):
        if not isinstance(element, tuple) or len(element) < 2:
            raise ValueError("Expected the dataset to yield (x, y) batches.")
        x, y = element[0], element[1]
        batch = batch or len(x)
        order.append(y)
        if sum(len(v) for v in xs) < size:
            xs.append(x)
            ys.append(y)
        if index >= 8 and sum(len(v) for v in xs) >= size:
            break
    if not xs:
        raise ValueError("The dataset yields no batches.")
    x, y = np.concatenate(xs)[:size], np.concatenate(ys)[:size]
    return x, y, np.concatenate(order), batch, False


class Context:
    """The model, its loss and optimizer, the data, and shared measurements."""

    def __init__(self, model, data, loss, optimizer, seed):
        self.model = model
        self.seed = seed
        self.x, self.y, self.order, self.batch_size, self.arrays = read_pool(data)
        self.compile_loss = loss
        self.loss = mean_loss(loss)
        self.optimizer_config = keras.optimizers.serialize(optimizer)
        self.outputs = int(model.output_shape[-1])
        self.sparse = self.y.ndim == 1 or (self.y.ndim == 2 and self.y.shape[1] == 1)
        self.classification = self.outputs > 1 and (
            np.issubdtype(self.y.dtype, np.integer) or self.y.ndim == 2
        )
        self._cache = {}
        self.pictures = {}  # what a check leaves for a picture (the sweep)

    # -- data ----------------------------------------------------------------
    def labels(self, y=None):
        """Class indices of `y` (default: the pool), sparse or one-hot."""
        y = self.y if y is None else y
        if y.ndim == 2 and y.shape[1] > 1:
            return np.argmax(y, axis=1)
        return y.reshape(len(y)).astype("int64")

    def batch(self, size=None):
        size = size or min(self.batch_size, 64)
        return self.x[:size], self.y[:size]

    # -- clones --------------------------------------------------------------
    def optimizer(self):
        return keras.optimizers.deserialize(self.optimizer_config)

    def clone(self, regularize=True, optimizer=None, copy_weights=True):
        """A compiled copy of the model (the user's weights unless told not)."""
        keras.utils.set_random_seed(self.seed)
        clone = _clone_layer(self.model, regularize)
        if copy_weights:
            clone.set_weights(self.model.get_weights())
        metrics = ["accuracy"] if self.classification else []
        clone.compile(
            optimizer=optimizer or self.optimizer(),
            loss=self.compile_loss,
            metrics=metrics,
        )
        return clone

    def accuracy(self, model, x, y):
        scores = np.asarray(model.predict(x, verbose=0, batch_size=256))
        return float(np.mean(np.argmax(scores, axis=-1) == self.labels(y)))

    # -- forward and backward passes on the user's model ---------------------
    def probe(self, select, training=True):
        return layer_probe(self.model, select, training=training)

    def forward(self):
        """Every weighted or activation layer's input and output on a batch, at
        init, in training mode (batch norm on the batch's statistics)."""
        if "forward" not in self._cache:
            x, _ = self.batch(256)
            keras.utils.set_random_seed(self.seed)
            self._cache["forward"] = self.probe(lambda layer: True)(x)
        return self._cache["forward"]

    def short_run(self, steps=10):
        """A clone trained `steps` steps at the configured optimizer: the model,
        its losses, and each kernel's update / weight ratio at every step
        (from the weight deltas of real steps, never from gradients)."""
        if "short_run" in self._cache:
            return self._cache["short_run"]
        model = self.clone()
        names = {}
        for layer in leaf_layers(model):
            for variable in layer.trainable_variables:
                if len(variable.shape) >= 2:
                    names[id(variable)] = layer.name
        watched = [v for v in model.trainable_variables if id(v) in names]
        ratios = {names[id(v)]: [] for v in watched}
        losses = []
        size = min(self.batch_size, len(self.x))
        for step in range(steps):
            start = (step * size) % max(len(self.x) - size + 1, 1)
            x, y = self.x[start : start + size], self.y[start : start + size]
            before = [np.array(keras.ops.convert_to_numpy(v)) for v in watched]
            logs = model.train_on_batch(x, y, return_dict=True)
            losses.append(float(logs["loss"]))
            after = [np.array(keras.ops.convert_to_numpy(v)) for v in watched]
            for v, ratio in zip(watched, update_ratios(before, after)):
                ratios[names[id(v)]].append(ratio)
        found = {"model": model, "losses": losses, "ratios": ratios}
        self._cache["short_run"] = found
        return found

    def loss_value(self, model, x, y, training=False):
        return float(
            keras.ops.convert_to_numpy(self.loss(y, model(x, training=training)))
        )

    def gradients(self):
        """`[(layer name, variable, weights, gradient)]` of the loss on one
        batch, without touching the model's state."""
        if "gradients" not in self._cache:
            x, y = self.batch(64)
            keras.utils.set_random_seed(self.seed)
            self._cache["gradients"] = variable_gradients(self.model, self.loss, x, y)
        return self._cache["gradients"]


def kernels(found):
    """The kernel-like variables (2-D or more) of `gradients()`, by layer."""
    return [(name, v, w, g) for name, v, w, g in found if w.ndim >= 2]


def update_ratios(before, after):
    """Per variable, the update / weight norm `||after - before|| / ||before||`."""
    return [
        float(np.linalg.norm(b - a) / max(np.linalg.norm(a), 1e-12))
        for a, b in zip(before, after)
    ]
