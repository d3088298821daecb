"""A linear classifier (softmax or SVM) trained on fixed CNN codes."""

from __future__ import annotations

import keras
import numpy as np

from components.checks import check_non_negative, check_positive_int, invalid_value
from components.losses import MulticlassSVM

LINEAR_LOSSES = ("softmax", "svm")


def linear_classifier(num_features, num_classes, loss="softmax", l2=1e-4, name=None):
    """A standardizing layer and one dense layer: a linear classifier.

    The notes' "train a linear classifier on the CNN codes": softmax
    (cross-entropy, outputs probabilities) or a linear SVM (the multiclass
    hinge loss of `components.losses.MulticlassSVM`, outputs scores). The
    `Normalization` layer must be adapted to the training codes before
    fitting (`fit_linear_classifier` does it).

    Args:
        num_features: Positive integer. Size of the codes.
        num_classes: Integer >= 2.
        loss: `"softmax"` or `"svm"`.
        l2: Float >= 0. L2 penalty on the weights.
        name: String or `None`. Model name.

    Returns:
        An uncompiled `keras.Model` from `(batch, num_features)` codes to
        `(batch, num_classes)` outputs.

    Example:

    >>> linear_classifier(256, 5).output.shape
    (None, 5)
    """
    check_positive_int("num_features", num_features)
    check_positive_int("num_classes", num_classes, 2)
    check_non_negative("l2", l2)
    if loss not in LINEAR_LOSSES:
        raise ValueError(invalid_value("loss", loss, "'softmax' or 'svm'"))
    codes = keras.Input((num_features,), name="codes")
    standardized = keras.layers.Normalization(name="codes_standardize")(codes)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax" if loss == "softmax" else None,
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name="linear",
    )(standardized)
    return keras.Model(codes, outputs, name=name or f"linear_{loss}")


def fit_linear_classifier(
    codes,
    labels,
    num_classes,
    loss="softmax",
    l2=1e-4,
    epochs=100,
    batch_size=64,
    learning_rate=1e-2,
    seed=0,
):
    """Trains `linear_classifier` on fixed codes; returns the trained model.

    The codes are computed once (`extractor.predict(images)`), so that the
    many epochs a linear model wants cost next to nothing.

    Args:
        codes: Float array `(n, features)`.
        labels: Integer array `(n,)` in `[0, num_classes)`.
        num_classes: Integer >= 2.
        loss: `"softmax"` or `"svm"`.
        l2: Float >= 0. L2 penalty on the weights.
        epochs: Positive integer.
        batch_size: Positive integer.
        learning_rate: Float > 0. Adam's learning rate.
        seed: Integer. Seed of the initialization and the shuffling.

    Returns:
        The trained, compiled `keras.Model`.

    Example:

    >>> import numpy as np
    >>> x = np.concatenate([np.zeros((20, 3)), np.ones((20, 3))]).astype("float32")
    >>> y = np.repeat([0, 1], 20)
    >>> head = fit_linear_classifier(x, y, 2, epochs=100)
    >>> float(np.mean(head.predict(x, verbose=0).argmax(-1) == y))
    1.0
    """
    codes = np.asarray(codes, "float32")
    labels = np.asarray(labels)
    if codes.ndim != 2 or len(codes) != len(labels) or len(codes) == 0:
        raise ValueError(
            "Expected `codes` of shape (n, features) and `labels` of shape (n,) with "
            f"n > 0. Received: codes.shape={codes.shape}, labels.shape={labels.shape}"
        )
    check_positive_int("epochs", epochs)
    keras.utils.set_random_seed(seed)
    head = linear_classifier(codes.shape[1], num_classes, loss, l2)
    head.get_layer("codes_standardize").adapt(codes)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=MulticlassSVM()
        if loss == "svm"
        else keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    head.fit(
        codes, labels, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True
    )
    return head
