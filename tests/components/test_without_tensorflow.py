"""The components a GPU machine without TensorFlow needs (`benchmarks.throughput`
on Keras with JAX) import and train with TensorFlow absent."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import sys


class NoTensorFlow:  # as on a machine without it: `import tensorflow` fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras"):
            raise ImportError(f"No module named {name!r}")


sys.meta_path.insert(0, NoTensorFlow())

import numpy as np

from components import analysis, callbacks, detection, layers, losses, models
from components import optimizers

rng = np.random.default_rng(0)
x = rng.random((16, 32, 32, 1), dtype="float32")

vgg = models.build("vgg", (32, 32, 1), 10, width=4)
vgg.compile("adam", "sparse_categorical_crossentropy")
history = vgg.fit(x, rng.integers(0, 10, 16), epochs=2, batch_size=8, verbose=0,
                  callbacks=[callbacks.UpdateRatioMonitor()])

yolo = detection.build("yolo", (32, 32, 1), 10, backbone="vgg", width=4,
                       stages=(1, 1), grid_size=4, head_width=8)
yolo.compile("adam", detection.YoloLoss(4, 2, 10))
targets = np.zeros((16, 4, 4, 15), "float32")
targets[:, 1, 2, :5] = (0.5, 0.5, 0.3, 0.4, 1.0)
targets[:, 1, 2, 5 + 3] = 1.0
losses_seen = yolo.fit(x, targets, epochs=3, batch_size=8, verbose=0).history["loss"]

assert not [m for m in sys.modules if m.split(".")[0] == "tensorflow"]
print(history.history["loss"][-1] < history.history["loss"][0], losses_seen[-1] < losses_seen[0])
"""


@pytest.mark.backend_independent  # it sets its own backend: run once
def test_components_import_and_train_on_jax_without_tensorflow():
    pytest.importorskip("jax")
    # XLA's optimization level 0: the child's time is compiling small kernels
    # (the Makefile's JAX run does the same).
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    env["XLA_FLAGS"] = flags
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Both networks learned something from their data: the losses fell.
    assert done.stdout.split()[-2:] == ["True", "True"]
