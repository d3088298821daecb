"""PCA and ZCA whitening fitted on training data with `adapt`."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from components.checks import invalid_value
from components.layers.adapted import AdaptedLayer, collect_array

METHODS = ("zca", "pca")


@keras.saving.register_keras_serializable(package="components")
class Whitening(AdaptedLayer):
    """PCA or ZCA whitening (CS231n, Neural Networks II, Preprocessing).

    `adapt(data)` follows the notes: centre the data, take the covariance
    `X.T @ X / n`, decompose it `U, S, V = svd(cov)`; then

    - `"pca"`: rotate into the eigenbasis and divide by the root of each
      eigenvalue, `Xwhite = X @ U / sqrt(S + epsilon)`. With `n_components=k`
      only the top k components are kept (the notes' `Xrot_reduced`), so the
      output has k features.
    - `"zca"`: whiten as PCA, then rotate back, `Xwhite @ U.T`: the whitened
      data closest to the original, with the input's shape (images stay
      images). With `n_components=k` the discarded directions are zeroed.

    Whitened training data has (close to) identity covariance. The notes warn
    of "numerical stability issues since you will need to invert a matrix":
    nothing is inverted here; the decomposition of the symmetric covariance
    is done in float64, and `epsilon` bounds the scaling of near-zero
    eigenvalues by `1 / sqrt(epsilon)`. Inputs are flattened to
    `(batch, features)`; the covariance is `features x features`, so keep
    inputs small (a 32x32x3 image has 3,072 features).

    Args:
        method: `"zca"` or `"pca"`.
        epsilon: Float > 0. Added to each eigenvalue before the square root.
        n_components: Integer or `None`. Number of top components to keep.

    Call arguments:
        inputs: Tensor `(batch, ...)` of the shape `adapt` saw.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 3)) @ [[2, 1, 0], [0, 1, 0], [0, 0, 3]]
    >>> layer = Whitening("pca")
    >>> layer.adapt(x)
    >>> white = np.asarray(layer(x))
    >>> bool(np.allclose(white.T @ white / len(white), np.eye(3), atol=1e-3))
    True
    """

    def __init__(self, method="zca", epsilon=1e-5, n_components=None, **kwargs):
        super().__init__(**kwargs)
        # (batch, ..., features): a rank-1 input would treat the batch as features.
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        if method not in METHODS:
            raise ValueError(invalid_value("method", method, "'zca' or 'pca'"))
        if not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(invalid_value("epsilon", epsilon, "a float > 0"))
        if n_components is not None and (
            not isinstance(n_components, int)
            or isinstance(n_components, bool)
            or n_components < 1
        ):
            raise ValueError(
                invalid_value(
                    "n_components", n_components, "a positive integer or None"
                )
            )
        self.method = method
        self.epsilon = float(epsilon)
        self.n_components = n_components

    def build(self, input_shape):
        self.features = math.prod(input_shape[1:])
        if self.n_components is not None and self.n_components > self.features:
            raise ValueError(
                invalid_value(
                    "n_components",
                    self.n_components,
                    f"at most the {self.features} input features",
                )
            )
        outputs = (
            self.features
            if self.method == "zca"
            else (self.n_components or self.features)
        )
        self.mean = self.add_weight(
            shape=(self.features,), initializer="zeros", trainable=False, name="mean"
        )
        self.projection = self.add_weight(
            shape=(self.features, outputs),
            initializer="zeros",
            trainable=False,
            name="projection",
        )

    def adapt(self, data):
        """Fits the mean and the whitening projection on `data` (training only)."""
        array = collect_array(data)
        if not self.built:
            self.build((None, *array.shape[1:]))
        flat = array.reshape(len(array), -1)
        if flat.shape[1] != self.features:
            raise ValueError(
                f"Whitening was built for {self.features} features; `adapt` received "
                f"data with {flat.shape[1]}."
            )
        mean = flat.mean(axis=0)
        centred = flat - mean
        covariance = centred.T @ centred / len(centred)
        # The covariance is symmetric positive semi-definite, so its SVD is its
        # eigendecomposition, with eigenvalues sorted largest first.
        u, s, _ = np.linalg.svd(covariance, hermitian=True)
        k = self.n_components or self.features
        scaled = u[:, :k] / np.sqrt(s[:k] + self.epsilon)
        projection = scaled if self.method == "pca" else scaled @ u[:, :k].T
        self.mean.assign(mean.astype(self.mean.dtype))
        self.projection.assign(projection.astype(self.projection.dtype))
        self.adapted = True

    def call(self, inputs):
        self.check_adapted()
        flat = ops.reshape(inputs, (-1, self.features))
        white = ops.matmul(flat - self.mean, self.projection)
        if self.method == "zca":
            return ops.reshape(white, ops.shape(inputs))
        return white

    def compute_output_shape(self, input_shape):
        if self.method == "zca":
            return input_shape
        return (input_shape[0], self.n_components or math.prod(input_shape[1:]))

    def get_config(self):
        return {
            **super().get_config(),
            "method": self.method,
            "epsilon": self.epsilon,
            "n_components": self.n_components,
        }
