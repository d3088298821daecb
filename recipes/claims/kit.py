"""The claims' experiments in one kit: the data, the model, its training, its figures.

A claim module states only its arms (the settings that differ) and its metric;
what the arms share is built, trained and measured here, so that two arms
differ in nothing else. Given a seed, a builder seeds Keras before it makes a
layer (initializers draw their seeds when they are made, not when they are
called), and `train` seeds it again before fitting, so an arm's figures depend
on its seed alone.
"""

from __future__ import annotations

import functools
import time

import keras
import numpy as np

from components import data
from components.checks import invalid_value

OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}


@functools.lru_cache(maxsize=16)
def digits(image_size=8, seed=0, *, flat=False, standardized=False, per_class=None):
    """The digits as `(x_train, y_train, x_test, y_test)`.

    The validation split joins the training data: the claims pick nothing on
    it (`digits_with_validation` keeps it apart).

    Args:
        image_size: Integer. Side of the square images.
        seed: Integer. Seed of the split.
        flat: Boolean. Images as vectors `(n, image_size**2)`, for an MLP.
        standardized: Boolean. Zero mean, unit variance per feature, the
            statistics from the training images (all of them, before
            `per_class` picks among them).
        per_class: Integer or `None`. Training examples kept per class (chosen
            with `seed`); `None` keeps them all.

    Returns:
        Tuple of NumPy arrays, images in [0, 1] unless standardized. Cached:
        do not change them in place.

    Example:

    >>> x, y, x_test, y_test = digits(8, flat=True, per_class=5)
    >>> x.shape, y.shape
    ((50, 64), (50,))
    """
    splits = data.load("digits", image_size=image_size, seed=seed)
    x, y = splits.as_numpy("train")
    x_validation, y_validation = splits.as_numpy("validation")
    x, y = np.concatenate([x, x_validation]), np.concatenate([y, y_validation])
    x_test, y_test = splits.as_numpy("test")
    if flat:
        x, x_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)
    if standardized:
        x, x_test = standardize(x, x_test)
    if per_class is not None:
        index = data.sample_per_class(y, per_class, seed)
        x, y = x[index], y[index]
    return x, y, x_test, y_test


@functools.lru_cache(maxsize=8)
def digits_with_validation(image_size=8, seed=0):
    """`(x, y, x_validation, y_validation, x_test, y_test)` of the digits."""
    splits = data.load("digits", image_size=image_size, seed=seed)
    return (
        *splits.as_numpy("train"),
        *splits.as_numpy("validation"),
        *splits.as_numpy("test"),
    )


def standardize(x_train, *others):
    """Zero mean, unit variance per feature, statistics from training only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    return [(v - mean) / std for v in (x_train, *others)]


def mlp(
    widths,
    *,
    input_shape=(64,),
    init="glorot_uniform",
    activation="relu",
    batch_norm=False,
    dropout=0.0,
    classes=10,
    output="softmax",
    seed=None,
):
    """A multilayer perceptron: hidden `Dense` layers, then one to the classes.

    Args:
        widths: Sequence of integers. Units of each hidden layer (none: a
            linear classifier).
        input_shape: Tuple. Inputs of more than one axis are flattened first.
        init: Name of a Keras initializer, or a function of a layer's fan-in
            returning a new initializer, for the hidden layers' kernels. The
            last layer keeps Keras's default (Glorot uniform).
        activation: Name of an activation, fused into each hidden layer, or a
            function returning a new activation layer (`keras.layers.PReLU`),
            put after each.
        batch_norm: Boolean. Batch normalization between each hidden layer
            and its activation; the layers then have no bias.
        dropout: Float. Dropout rate after each hidden layer; 0 for none.
        classes: Integer. Units of the last layer.
        output: The last layer's activation; `None` for logits.
        seed: Integer or `None`. Seeds Keras before the first layer is made;
            `None` leaves its random state as it is.

    Returns:
        A `keras.Sequential` model, built.

    Example:

    >>> model = mlp([32], init="he_normal", dropout=0.5, seed=0)
    >>> [type(layer).__name__ for layer in model.layers]
    ['Dense', 'Dropout', 'Dense']
    >>> model.count_params()  # 64 * 32 + 32 + 32 * 10 + 10
    2410
    """
    _seed(seed)
    layers = [keras.Input(input_shape)]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    fan_in = int(np.prod(input_shape))
    for width in widths:
        dense = functools.partial(
            keras.layers.Dense, width, kernel_initializer=_initializer(init, fan_in)
        )
        layers += _unit(dense, activation, batch_norm, dropout)
        fan_in = width
    layers.append(keras.layers.Dense(classes, activation=output))
    return keras.Sequential(layers)


def cnn(
    filters,
    *,
    input_shape=(16, 16, 1),
    kernel_size=3,
    init="glorot_uniform",
    activation="relu",
    batch_norm=False,
    downsample=None,
    head="average",
    hidden=(),
    classes=10,
    seed=None,
):
    """A convolutional network: "same"-padded convolutions, then a head.

    Args:
        filters: Sequence of integers. Filters of each convolution.
        input_shape: Tuple `(height, width, channels)`.
        kernel_size: Integer, or one per convolution.
        init: Name of a Keras initializer (or a function of a layer's fan-in
            returning one), or one per convolution, for the convolutions'
            kernels. Downsampling and head layers keep Keras's default
            (Glorot uniform).
        activation: As in `mlp`.
        batch_norm: Boolean. Batch normalization between each convolution and
            its activation; the convolutions then have no bias.
        downsample: After each convolution: `None`, `"max_pooling"` (2x2) or
            `"strided_conv"` (a 3x3 convolution of stride 2, the same filters
            and activation).
        head: `"average"` (global average pooling, then `Dense` layers),
            `"flatten"` (`Flatten`, then `Dense` layers) or `"conv"`
            (SqueezeNet's: a 1x1 convolution to the classes, global average
            pooling, softmax).
        hidden: Sequence of integers. Units of `Dense` layers (with
            `activation`) before the last, in an `"average"` or `"flatten"`
            head.
        classes: Integer. Outputs, after a softmax.
        seed: Integer or `None`. As in `mlp`.

    Returns:
        A `keras.Sequential` model, built.

    Example:

    >>> model = cnn([8, 16], batch_norm=True, downsample="max_pooling", seed=0)
    >>> [type(layer).__name__ for layer in model.layers][:4]
    ['Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D']
    >>> model.output_shape
    (None, 10)
    """
    _seed(seed)
    count = len(filters)
    sizes = _per_layer(kernel_size, count)
    inits = _per_layer(init, count)
    layers = [keras.Input(input_shape)]
    channels = input_shape[-1]
    for width, size, layer_init in zip(filters, sizes, inits):
        conv = functools.partial(
            keras.layers.Conv2D,
            width,
            size,
            padding="same",
            kernel_initializer=_initializer(layer_init, size * size * channels),
        )
        layers += _unit(conv, activation, batch_norm)
        layers += _downsampling(downsample, width, activation, batch_norm)
        channels = width
    return keras.Sequential(layers + _head(head, hidden, activation, classes))


def compile_model(model, *, rate, optimizer="sgd", loss=None, **options):
    """Compiles `model` for classification with accuracy as its metric.

    Args:
        model: A Keras model.
        rate: Float. The learning rate.
        optimizer: `"sgd"` or `"adam"`.
        loss: A Keras loss; `None` for sparse categorical cross-entropy.
        **options: The optimizer's other arguments (`momentum`,
            `global_clipnorm`...).

    Returns:
        `model`.

    Example:

    >>> model = compile_model(mlp([], seed=0), rate=0.01, momentum=0.9)
    >>> float(model.optimizer.momentum)
    0.9
    """
    model.compile(
        optimizer=OPTIMIZERS[optimizer](rate, **options),
        loss=loss or "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train(
    model,
    data,
    *,
    seed,
    epochs,
    rate,
    optimizer="sgd",
    batch_size=64,
    loss=None,
    callbacks=(),
    **options,
):
    """Trains `model` with a seeded shuffle and scores it on held-out data.

    Args:
        model: A Keras classifier.
        data: Tuple `(x, y, x_test, y_test)`, as `digits` returns it.
        seed: Integer. Seeds Keras before compiling (the shuffles, dropout).
        epochs: Integer. Passes over `x`.
        rate: Float. The learning rate.
        optimizer: `"sgd"` or `"adam"`.
        batch_size: Integer.
        loss: A Keras loss; `None` for sparse categorical cross-entropy.
        callbacks: Sequence of Keras callbacks.
        **options: The optimizer's other arguments, as in `compile_model`.

    Returns:
        Dict with `"test_accuracy"` (on `x_test`) and `"train_loss"` (the
        last epoch's).

    Example:

    >>> result = train(mlp([16], seed=0), digits(8, flat=True), seed=0,
    ...                epochs=2, rate=0.1, momentum=0.9)
    >>> sorted(result), result["test_accuracy"] > 0.5
    (['test_accuracy', 'train_loss'], True)
    """
    x, y, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    compile_model(model, rate=rate, optimizer=optimizer, loss=loss, **options)
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=list(callbacks),
    )
    return {
        "test_accuracy": accuracy(model, x_test, y_test, batch_size=512),
        "train_loss": float(history.history["loss"][-1]),
    }


def accuracy(model, x, y, batch_size=None):
    """The share of `x` that `model` puts in the class `y` says.

    Args:
        model: A Keras classifier (scores or probabilities per class).
        x: NumPy array of inputs.
        y: Integer array of classes.
        batch_size: Integer, or `None` for Keras's default (32).

    Returns:
        Float in [0, 1].

    Example:

    >>> x, y, x_test, y_test = digits(8, flat=True)
    >>> 0.0 <= accuracy(mlp([], seed=0), x_test, y_test) <= 1.0
    True
    """
    scores = model.predict(x, verbose=0, batch_size=batch_size)
    return float(np.mean(np.argmax(scores, axis=-1) == y))


def seconds_per_call(function, repeats=5):
    """The median wall time of `function()` over `repeats` calls.

    Args:
        function: Callable without arguments.
        repeats: Integer. Timed calls, after one untimed (warm-up) call.

    Returns:
        Float, seconds.

    Example:

    >>> seconds_per_call(lambda: sum(range(1000)), repeats=3) < 1.0
    True
    """
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _seed(seed):
    if seed is not None:
        keras.utils.set_random_seed(seed)


def _per_layer(value, count):
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


def _initializer(init, fan_in):
    # A new initializer per layer: a shared one would give every layer the
    # seed it drew when it was made, so the same weights.
    return init if isinstance(init, str) else init(fan_in)


def _unit(layer, activation, batch_norm=False, dropout=0.0):
    """`layer(activation=..., use_bias=...)`, then its batch norm, its
    activation unless fused into it, and its dropout."""
    separate = batch_norm or not isinstance(activation, str)
    # Batch norm's shift makes a bias before it redundant (Ioffe and Szegedy).
    layers = [
        layer(activation=None if separate else activation, use_bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    if separate:
        layers.append(_activation_layer(activation))
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    return layers


def _activation_layer(activation):
    if isinstance(activation, str):
        return keras.layers.Activation(activation)
    return activation()


def _downsampling(downsample, filters, activation, batch_norm):
    if downsample is None:
        return []
    if downsample == "max_pooling":
        return [keras.layers.MaxPooling2D(2)]
    if downsample == "strided_conv":
        conv = functools.partial(
            keras.layers.Conv2D, filters, 3, strides=2, padding="same"
        )
        return _unit(conv, activation, batch_norm)
    raise ValueError(
        invalid_value("downsample", downsample, "None, 'max_pooling' or 'strided_conv'")
    )


def _head(head, hidden, activation, classes):
    if head == "conv":
        return [
            keras.layers.Conv2D(classes, 1),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Softmax(),
        ]
    pooling = {
        "average": keras.layers.GlobalAveragePooling2D,
        "flatten": keras.layers.Flatten,
    }
    if head not in pooling:
        raise ValueError(invalid_value("head", head, "'average', 'flatten' or 'conv'"))
    layers = [pooling[head]()]
    for width in hidden:
        layers += _unit(functools.partial(keras.layers.Dense, width), activation)
    return layers + [keras.layers.Dense(classes, activation="softmax")]
