"""Per-layer activation and gradient histograms in TensorBoard, during `fit`."""

from __future__ import annotations

import os

import keras
import numpy as np

from components.analysis.activations import activation_kind
from components.analysis.layer_gradients import variable_gradients
from components.analysis.model_graph import layer_probe
from components.callbacks.model_state import sync_weights


def _watched(layer):
    return bool(layer.trainable_weights) or activation_kind(layer) is not None


class HistogramLogger(keras.callbacks.Callback):
    """Writes per-layer activation and gradient histograms for TensorBoard.

    TensorBoard documents these histograms but TF2 Keras no longer writes them
    (tensorflow/tensorflow#39755). Every `every` epochs, one forward pass of a
    fixed probe batch (inference mode) gives each weighted or activation
    layer's outputs (`activations/<layer>`), and one stateless backward pass
    gives each trainable variable's gradient (`gradients/<layer>/<variable>`):
    Keras's own names, never TensorFlow's tensor names, so the same tags
    appear on every backend. The summaries
    go to `<log_dir>/histograms` through `tf.summary` (TensorFlow must be
    installed; the model may run on any backend).

    Args:
        log_dir: String. TensorBoard's log folder.
        probe: `(x, y)` arrays. A fixed batch.
        every: Positive integer. Epochs between writes.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> model = keras.Sequential([keras.Input((3,)),
    ...     keras.layers.Dense(4, activation="relu", name="hidden"),
    ...     keras.layers.Dense(1, name="out")])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.ones((8, 3)), np.ones((8, 1))
    >>> logger = HistogramLogger(tempfile.mkdtemp(), (x, y))
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    >>> sorted(logger.tags)[:3]
    ['activations/hidden', 'activations/out', 'gradients/hidden/bias']
    """

    def __init__(self, log_dir, probe, every=1):
        super().__init__()
        if not isinstance(probe, (tuple, list)) or len(probe) != 2:
            raise ValueError(
                "Invalid value received for argument `probe`. Expected a batch "
                f"(x, y) of arrays. Received: {type(probe).__name__}"
            )
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError(
                "Invalid value received for argument `log_dir`. Expected a folder "
                f"path. Received: log_dir={log_dir!r}"
            )
        if not isinstance(every, int) or every < 1:
            raise ValueError(
                f"Invalid value received for argument `every`. Expected a positive "
                f"integer. Received: every={every}"
            )
        self.log_dir = log_dir
        self.x, self.y = (np.asarray(v) for v in probe)
        self.every = every
        self.tags = set()

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(
            os.path.join(self.log_dir, "histograms")
        )
        self._probe = layer_probe(self.model, _watched)

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every:
            return
        import tensorflow as tf

        sync_weights(self.model)
        outputs = [(name, out) for name, _, _, out in self._probe(self.x)]
        grads = variable_gradients(self.model, self.model.loss, self.x, self.y)
        with self._writer.as_default(step=epoch):
            for name, out in outputs:
                self._write(tf, f"activations/{name}", out)
            for layer, variable, _, grad in grads:
                self._write(tf, f"gradients/{layer}/{variable.name}", grad)
        self._writer.flush()

    def _write(self, tf, tag, values):
        tf.summary.histogram(tag, np.asarray(values, "float32"))
        self.tags.add(tag)

    def on_train_end(self, logs=None):
        self._writer.close()
