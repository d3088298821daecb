"""The notes' gradient check: the analytic gradient against centred differences."""

from __future__ import annotations

import dataclasses
import inspect
import warnings

import keras
import numpy as np


@dataclasses.dataclass
class GradientCheckResult:
    """What `gradient_check` found.

    Attributes:
        max_relative_error: Float. The largest relative error over every
            checked element of every input.
        passed: Boolean. `max_relative_error < threshold`.
        threshold: Float. The pass / fail threshold used.
        relative_errors: List of arrays. Per input, the relative error of each
            checked element (in the order of `checked`).
        analytic: List of arrays. Per input, the full analytic gradient.
        numerical: List of arrays. Per input, the centred-difference estimate at
            the checked elements.
        checked: List of arrays. Per input, the flat indices that were checked.
    """

    max_relative_error: float
    passed: bool
    threshold: float
    relative_errors: list
    analytic: list
    numerical: list
    checked: list

    def summary(self):
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradient check {verdict}: max relative error "
            f"{self.max_relative_error:.3e} (threshold {self.threshold:.0e})"
        )


def _analytic_gradients(fn, inputs):
    """Gradients of scalar `fn(*inputs)` with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
        return [
            np.zeros_like(x) if g is None else np.asarray(g)
            for x, g in zip(inputs, grads)
        ]
    if backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(inputs))))(*inputs)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        fn(*tensors).backward()
        return [t.grad.detach().cpu().numpy() for t in tensors]
    raise NotImplementedError(
        f"gradient_check does not support the {backend!r} backend."
    )


class _Projection:
    """A fixed random projection that turns a tensor output into a scalar.

    Every output element contributes, with a weight that differs from its
    neighbours', so a wrong gradient of any one element shows.
    """

    def __init__(self, fn, seed):
        self.fn = fn
        self.rng = np.random.default_rng(seed)
        self.weights = {}

    def weights_for(self, shape, dtype):
        if shape not in self.weights:
            self.weights[shape] = self.rng.normal(size=shape)
        return self.weights[shape].astype(dtype)

    def scalar(self, *xs):
        """The projected output, as a backend tensor (differentiable)."""
        out = self.fn(*xs)
        shape = tuple(keras.ops.shape(out))
        if shape == ():
            return out
        dtype = keras.backend.standardize_dtype(out.dtype)
        return keras.ops.sum(out * self.weights_for(shape, dtype))

    def output(self, *xs):
        return keras.ops.convert_to_numpy(self.fn(*xs)).astype("float64")

    def project_difference(self, plus, minus):
        """Projects `plus - minus`, differencing element by element first.

        Outputs that the perturbation did not touch then cancel exactly,
        instead of drowning the change in the rounding of a large sum.
        """
        if plus.shape == ():
            return float(plus - minus)
        return float(np.sum(self.weights[plus.shape] * (plus - minus)))


def gradient_check(
    fn,
    inputs,
    *,
    epsilon=None,
    threshold=None,
    max_elements=200,
    seed=0,
):
    """Compares the analytic gradient of `fn` with its numerical gradient.

    The notes (CS231n, Optimization I): "in practice we always use the
    analytic gradient and then perform a gradient check, in which its
    implementation is compared to the numerical gradient". The numerical
    gradient is the centred difference `(f(x + h) - f(x - h)) / 2h` per
    element; the relative error of each element is
    `|a - n| / max(|a|, |n|)` (0 where both are 0). A non-scalar output is
    reduced to a scalar by a fixed random projection first.

    Use float64 inputs (and float64 layers: `dtype="float64"`) and test points
    where the function is smooth (away from the kink of a ReLU or a hinge):
    there a correct gradient has a relative error near 1e-8 and a wrong one
    near 1. When the function computes in float32 the defaults become
    `epsilon=1e-2, threshold=1e-2` (CS231n: above 1e-2 "the gradient is
    probably wrong") and a warning says so. This is always the case on the
    JAX backend, where Keras's type promotion turns float64 into float32.
    In float32 the denominator of the relative error is also floored at 1% of
    the input's largest gradient, since smaller ones drown in rounding.

    Args:
        fn: Callable of the inputs returning a tensor, written with `keras.ops`.
            For a layer, see `layer_gradient_check`.
        inputs: Array or list of arrays, the point at which to check.
        epsilon: Float or `None`. The step h of the centred differences
            (default 1e-5 in float64, 1e-2 in float32).
        threshold: Float or `None`. Pass when the max relative error is below
            it (default 1e-6 in float64, 1e-2 in float32).
        max_elements: Integer. At most this many elements of each input are
            checked (chosen at random, seeded), to bound the cost of large inputs.
        seed: Integer. Seed of the projection and of the element choice.

    Returns:
        A `GradientCheckResult`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> result = gradient_check(lambda x: ops.sum(ops.tanh(x) ** 2), np.linspace(-1, 1, 5))
    >>> result.passed
    True
    """
    single = not isinstance(inputs, (list, tuple))
    inputs = [np.array(x, copy=True) for x in ([inputs] if single else inputs)]
    projection = _Projection(fn, seed)
    computed = keras.ops.convert_to_numpy(projection.scalar(*inputs)).dtype
    if computed != np.float64:
        warnings.warn(
            f"gradient_check: the function computes in {computed}, so the check "
            "uses epsilon=1e-2 and threshold=1e-2 by default. For a tight check use "
            "float64 inputs and layers (on the TensorFlow backend: Keras computes "
            "float64 as float32 on JAX).",
            stacklevel=2,
        )
    precise = computed == np.float64
    epsilon = epsilon if epsilon is not None else (1e-5 if precise else 1e-2)
    threshold = threshold if threshold is not None else (1e-6 if precise else 1e-2)
    analytic = _analytic_gradients(projection.scalar, inputs)

    rng = np.random.default_rng(seed)
    errors, numerical, checked = [], [], []
    for position, x in enumerate(inputs):
        flat_count = x.size
        chosen = np.arange(flat_count)
        if flat_count > max_elements:
            chosen = np.sort(rng.choice(flat_count, max_elements, replace=False))
        estimates = np.empty(len(chosen))
        for n, index in enumerate(chosen):
            original = x.flat[index]
            x.flat[index] = original + epsilon
            plus = projection.output(*inputs)
            x.flat[index] = original - epsilon
            minus = projection.output(*inputs)
            x.flat[index] = original
            estimates[n] = projection.project_difference(plus, minus) / (2 * epsilon)
        exact = analytic[position].reshape(-1)[chosen]
        # float32 cannot resolve gradients far below the largest one, so there
        # the small elements are compared on 1% of the largest one's scale.
        floor = 0.0 if precise else 1e-2 * float(np.abs(analytic[position]).max())
        scale = np.maximum(np.maximum(np.abs(exact), np.abs(estimates)), floor)
        diff = np.abs(exact - estimates)
        errors.append(np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0))
        numerical.append(estimates)
        checked.append(chosen)
    worst = max((float(e.max()) for e in errors if e.size), default=0.0)
    return GradientCheckResult(
        max_relative_error=worst,
        passed=worst < threshold,
        threshold=threshold,
        relative_errors=errors,
        analytic=analytic,
        numerical=numerical,
        checked=checked,
    )


def layer_gradient_check(layer, x, *, loss=None, targets=None, **kwargs):
    """Gradient check of a layer or model: w.r.t. its input and its weights.

    Runs the layer in inference mode through `stateless_call`, so the weights
    are plain inputs of the checked function. With `loss` and `targets`, the
    checked function is `loss(targets, layer(x))`, a model's loss.

    Args:
        layer: A built `keras.layers.Layer` or `keras.Model` (float64 for a
            tight check: `dtype="float64"`).
        x: Array. The input.
        loss: A Keras loss or `None`.
        targets: Array of targets for `loss`.
        **kwargs: Passed to `gradient_check`.

    Returns:
        A `GradientCheckResult` whose inputs are `[x, *layer.trainable_weights]`.

    Example:

    >>> import keras, numpy as np
    >>> dense = keras.layers.Dense(3, activation="tanh", dtype="float64")
    >>> x = np.random.default_rng(0).normal(size=(4, 5))
    >>> _ = dense(x)
    >>> layer_gradient_check(dense, x).passed
    True
    """
    if not layer.built:
        layer(x)
    non_trainable = [v.value for v in layer.non_trainable_variables]
    accepts_training = "training" in inspect.signature(layer.call).parameters
    call_kwargs = {"training": False} if accepts_training else {}

    def fn(inputs, *trainable):
        out, _ = layer.stateless_call(
            list(trainable), non_trainable, inputs, **call_kwargs
        )
        if loss is not None:
            return loss(targets, out)
        return out

    weights = [keras.ops.convert_to_numpy(v) for v in layer.trainable_variables]
    return gradient_check(fn, [np.asarray(x), *weights], **kwargs)
