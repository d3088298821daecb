"""What every check reads: the data as batches, the loss, clones of the model.

The user's model is never trained or changed: checks that train work on
`clone()`s, which copy its weights; everything measured on the model itself
is a stateless forward or backward pass.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np

from components.analysis.layer_gradients import mean_loss, variable_gradients
from components.analysis.model_graph import layer_probe, leaf_layers

POOL_SIZE = 512  # examples drawn from the data for every check
READ_LIMIT = 4096  # examples of a dataset read to draw them from


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


def class_indices(y):
    """`y` as class indices when it holds them (integers, or one-hot rows),
    else `None`."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            return np.argmax(y, axis=1)
        return None
    if y.ndim <= 2 and np.issubdtype(y.dtype, np.integer):
        return y.reshape(len(y)).astype("int64")
    return None


def stratified_order(labels, seed):
    """A random order of the indices of `labels` in which every prefix holds
    each class in about its share (`None` labels: a plain permutation).

    Each example gets the key `(its rank among its class + 0.5) / class
    size` over a seeded permutation; sorting by it interleaves the classes.

    Example:

    >>> order = stratified_order(np.array([0] * 6 + [1] * 3), seed=0)
    >>> sorted(np.array([0] * 6 + [1] * 3)[order[:3]].tolist())
    [0, 0, 1]
    """
    rng = np.random.default_rng(seed)
    count = len(labels)
    permutation = rng.permutation(count)
    if labels is None:
        return permutation
    shuffled = np.asarray(labels)[permutation]
    _, inverse, sizes = np.unique(shuffled, return_inverse=True, return_counts=True)
    rank = np.zeros(count)
    seen = np.zeros(len(sizes))
    for index, group in enumerate(inverse):
        rank[index] = seen[group]
        seen[group] += 1
    return permutation[np.argsort((rank + 0.5) / sizes[inverse], kind="stable")]


def read_pool(data, seed=0, size=POOL_SIZE, max_examples=READ_LIMIT, max_batches=64):
    """A pool of `size` examples drawn at random, and the label order.

    The pool is drawn with `seed` (stratified by class where the labels are
    class indices) from all the examples of arrays, or from the first
    `max_examples` (at most `max_batches` batches) a dataset yields, so the
    order of the user's data changes no check that uses a part of it.

    Returns `(x, y, order, batch_size, arrays)`: `order` the labels in the
    order the model sees them (for a dataset; for arrays, their order as
    given), `arrays` whether `data` was arrays (which `fit` shuffles itself).
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
        batch, arrays = min(32, len(x)), True
        order = y
    else:
        if not hasattr(data, "as_numpy_iterator"):
            raise ValueError(
                "Expected `data` as a tf.data.Dataset of (x, y) batches or a tuple "
                f"of arrays; received {type(data).__name__}."
            )
        xs, ys, batch = [], [], None
        for element in data.take(max_batches).as_numpy_iterator():
            if not isinstance(element, tuple) or len(element) < 2:
                raise ValueError("Expected the dataset to yield (x, y) batches.")
            batch = batch or len(element[0])
            xs.append(element[0])
            ys.append(element[1])
            if sum(len(v) for v in xs) >= max_examples:
                break
        if not xs:
            raise ValueError("The dataset yields no batches.")
        x, y = np.concatenate(xs), np.concatenate(ys)
        order, arrays = y, False
    chosen = stratified_order(class_indices(y), seed)[:size]
    return x[chosen], y[chosen], order, batch, arrays


class Context:
    """The model, its loss and optimizer, the data, and shared measurements."""

    def __init__(self, model, data, loss, optimizer, seed, state="auto"):
        self.model = model
        self.seed = seed
        self.x, self.y, self.order, self.batch_size, self.arrays = read_pool(data, seed)
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
        self.state = judge_state(self, state)

    def chance_loss(self):
        """The loss of uniform scores (log C for softmax cross-entropy, C - 1
        for the multiclass SVM), or `None` when no such value is known."""
        return chance_loss_and_formula(self)[0]

    @property
    def trained(self):
        """Whether the model is judged trained (its init checks then measure
        without a verdict)."""
        return self.state["state"] == "trained"

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


def _loss_name(loss):
    if isinstance(loss, str):
        return loss.lower()
    name = getattr(loss, "name", None) or getattr(loss, "__name__", "") or ""
    return (type(loss).__name__ + " " + name).lower()


def chance_loss_and_formula(context):
    """`(value, formula)` of the loss at chance, or `(None, loss name)`."""
    name = _loss_name(context.loss) + " " + _loss_name(context.compile_loss)
    classes = context.outputs
    if "multiclasssvm" in name.replace("_", ""):
        return float(classes - 1), f"C - 1 = {classes - 1}"
    if "crossentropy" in name and "binary" not in name and classes > 1:
        return math.log(classes), f"log(C) = {math.log(classes):.3f}"
    return None, name.strip()


STATES = ("auto", "fresh", "trained")


def judge_state(context, state):
    """`{"state": "fresh" | "trained", "reason": ...}`.

    `auto` judges a classifier trained when its accuracy on the pool is at
    least halfway from chance (the largest class's share) to 100% and its
    loss at most half the loss at chance (when that is known): a fresh
    network scores near chance whatever its faults, a trained one far above.
    Anything else is taken as fresh unless `state="trained"` says so.
    """
    if state not in STATES:
        raise ValueError(
            f"Invalid value received for argument `state`. Expected one of "
            f"{', '.join(STATES)}. Received: state={state!r}"
        )
    if state != "auto":
        return {"state": state, "reason": "as told"}
    if not context.classification:
        return {"state": "fresh", "reason": "not a classifier: taken as fresh"}
    labels = context.labels()
    chance = float(np.bincount(labels).max() / len(labels))
    accuracy = context.accuracy(context.model, context.x, context.y)
    bar = chance + 0.5 * (1.0 - chance)
    # A fresh network can score far above chance on an easy task by luck; its
    # loss stays near chance's. A trained one's is far below.
    chance_loss = context.chance_loss()
    loss = context.loss_value(context.model, *context.batch(256))
    low_loss = chance_loss is None or loss <= 0.5 * chance_loss
    judged = "trained" if accuracy >= bar and low_loss else "fresh"
    reason = f"accuracy {accuracy:.2f}, chance {chance:.2f}, trained from {bar:.2f}"
    if chance_loss is not None:
        reason += f"; loss {loss:.3g}, chance {chance_loss:.3g}"
    return {
        "state": judged,
        "reason": reason,
        "accuracy": accuracy,
        "chance": chance,
        "loss": loss,
    }


def kernels(found):
    """The kernel-like variables (2-D or more) of `gradients()`, by layer."""
    return [(name, v, w, g) for name, v, w, g in found if w.ndim >= 2]


def update_ratios(before, after):
    """Per variable, the update / weight norm `||after - before|| / ||before||`."""
    return [
        float(np.linalg.norm(b - a) / max(np.linalg.norm(a), 1e-12))
        for a, b in zip(before, after)
    ]
