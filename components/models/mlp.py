"""Fully connected classifiers: the notes' linear classifier and dense stacks."""

from __future__ import annotations

import keras

from components.checks import check_positive_int
from components.models.blocks import classifier, dense_bn_act
from components.models.options import CommonOptions
from components.models.registry import register


@register("linear")
def linear(input_shape, num_classes, l1=0.0, l2=0.0, classifier_activation="softmax"):
    """Builds the notes' linear classifier: scores `f(x) = W x + b`.

    CS231n's "Linear Classify": one matrix multiplication of the flattened
    pixels, so that once trained "we can discard the training data" and a
    prediction costs a single product. The bias trick of the notes appends a
    constant 1 to every input so that `b` becomes one more column of `W`
    (`f(x) = [W b] [x; 1]`); a Keras `Dense` layer keeps `W` and `b` apart,
    which is the same function with the same parameters. With
    `classifier_activation="softmax"` and cross-entropy it is the notes'
    Softmax classifier; with `None` and `components.losses.MulticlassSVM`, the
    multiclass SVM (`recipes.classify --model linear --loss svm`).

    Args:
        input_shape: Tuple. `(height, width, channels)`.
        num_classes: Integer. Number of classes.
        l1: Float >= 0. L1 penalty on `W`.
        l2: Float >= 0. L2 penalty on `W` (the SVM's usual regularizer).
        classifier_activation: String or `None`.

    Returns:
        A `keras.Model` named `"linear"`.

    Example:

    >>> model = linear((8, 8, 1), 10)
    >>> model.count_params()  # 64 x 10 weights + 10 biases
    650
    """
    options = CommonOptions(l1=l1, l2=l2)
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten(name="flatten")(inputs)
    outputs = classifier(x, num_classes, options, classifier_activation)
    return keras.Model(inputs, outputs, name="linear")


@register("mlp")
def mlp(
    input_shape,
    num_classes,
    hidden=(256, 256),
    classifier_activation="softmax",
    **common,
):
    """Builds a multi-layer perceptron: dense -> batch norm -> non-linearity -> dropout.

    The notes' Neural Networks I-III in one builder: `activation` is any of
    sigmoid (saturates and kills gradients, not zero-centred), tanh
    (zero-centred, still saturates), relu (can die), leaky_relu, prelu
    (learned slope), rrelu (random slope, `components.layers.RReLU`) and
    maxout (`components.layers.Maxout` over pairs of linear pieces, twice the
    parameters); Glorot initialization on dense layers ("use Xavier init on
    FCN"), batch norm before the non-linearity, dropout after each layer.

    Args:
        input_shape: Tuple. Any shape; it is flattened.
        num_classes: Integer. Number of classes.
        hidden: Tuple of ints. Units of each hidden layer.
        classifier_activation: String or `None`.
        **common: `CommonOptions` (`relu_after_pool` does not apply).

    Returns:
        A `keras.Model` named `"mlp"`.

    Example:

    >>> mlp((8, 8, 1), 10, hidden=(32,), activation="maxout").output_shape
    (None, 10)
    """
    options = CommonOptions.from_kwargs("mlp", {"dropout": 0.2, **common})
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    for units in hidden:
        check_positive_int("hidden", units)
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden):
        x = dense_bn_act(x, units, options=options, name=f"hidden{index + 1}")
    outputs = classifier(x, num_classes, options, classifier_activation)
    return keras.Model(inputs, outputs, name="mlp")
