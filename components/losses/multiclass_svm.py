"""The Weston-Watkins multiclass SVM (hinge) loss of the notes."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from components.checks import invalid_value


def _concrete(x):
    """`x` as a NumPy array when its values are known now, else `None` (traced)."""
    try:
        return np.asarray(x)
    except Exception:  # symbolic TF tensors and JAX tracers refuse conversion.
        return None


@keras.saving.register_keras_serializable(package="components")
class MulticlassSVM(keras.losses.Loss):
    """Multiclass SVM loss (Weston & Watkins, 1999), the notes' "SVM" loss.

    For raw class scores `f` and the true class `y_i`:

        L_i = sum over j != y_i of max(0, f_j - f_{y_i} + margin)

    averaged over the batch. Every class that scores within `margin` of the
    true one adds to the loss. Keras's `CategoricalHinge` is a different loss,
    the Crammer-Singer form, which only counts the single highest wrong
    class: `max(0, max_{j != y} f_j - f_y + 1)`. Use this one on a model with
    no softmax on its output (`classifier_activation=None`).

    Labels are integer class indices. A label outside `[0, num_classes)`
    raises a `ValueError` when the values can be seen (eager calls); inside a
    compiled step, where they cannot, the loss of that example is NaN, so a
    bad label never passes silently.

    Args:
        margin: Float > 0. The margin Delta.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: String. Name of the loss.

    Call arguments:
        y_true: Integer labels `(batch,)` or `(batch, 1)`.
        y_pred: Scores `(batch, num_classes)`.

    Example:

    >>> import numpy as np
    >>> scores = np.array([[3.2, 5.1, -1.7]])  # CS231n's cat example
    >>> round(float(MulticlassSVM()(np.array([0]), scores)), 2)
    2.9
    """

    def __init__(
        self,
        margin=1.0,
        reduction="sum_over_batch_size",
        name="multiclass_svm",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(margin, (int, float)) or not margin > 0:
            raise ValueError(invalid_value("margin", margin, "a float > 0"))
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        if len(y_pred.shape) < 2:
            raise ValueError(
                "Invalid value received for argument `y_pred`. Expected class "
                f"scores of shape (batch, classes). Received shape {tuple(y_pred.shape)}"
            )
        num_classes = y_pred.shape[-1]
        # Scores (..., C) and labels (...,) as rows: one label per score row.
        rows = y_pred.shape[:-1]
        if None not in rows and None not in tuple(y_true.shape):
            if math.prod(y_true.shape) != math.prod(rows):
                raise ValueError(
                    "Invalid value received for argument `y_true`. Expected one "
                    f"label per row of scores, shape {tuple(rows)}. Received shape "
                    f"{tuple(y_true.shape)} for y_pred of shape {tuple(y_pred.shape)}"
                )
        out_shape = ops.shape(y_pred)[:-1]
        y_pred = ops.reshape(y_pred, (-1, num_classes))
        labels = ops.reshape(y_true, (-1,))
        seen = _concrete(labels)
        if seen is not None and num_classes is not None:
            bad = (seen < 0) | (seen >= num_classes)
            if bad.any():
                raise ValueError(
                    "Invalid value received for argument `y_true`: labels out of range "
                    f"for MulticlassSVM, expected integers in [0, {num_classes}), found "
                    f"{seen[bad][:5].astype(int).tolist()}."
                )
        one_hot = ops.one_hot(
            ops.cast(labels, "int32"), num_classes, dtype=y_pred.dtype
        )
        correct = ops.sum(y_pred * one_hot, axis=-1, keepdims=True)
        margins = ops.relu(y_pred - correct + self.margin) * (1.0 - one_hot)
        loss = ops.sum(margins, axis=-1)
        valid = ops.sum(one_hot, axis=-1) > 0
        loss = ops.where(valid, loss, ops.full_like(loss, float("nan")))
        return ops.reshape(loss, out_shape)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
