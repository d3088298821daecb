"""Every recipe's `--quick` form on JAX (Keras 3's documented combination:
the JAX backend fed by `tf.data`). Runs in the JAX half of `make test`,
with one test each of `recipes.doctor`, `recipes.predict`, `recipes.claims`
and `tuning.search` from their own files (see the Makefile);
`recipes.export` refuses JAX in one line (it converts TensorFlow graphs).

The bars are far above chance and far below what the runs reach (10
classes: chance accuracy 0.1, chance mAP about 0), so they fail when a
backend difference breaks training or decoding, not on noise.
"""

import keras
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the JAX half of `make test` runs these"
)


def test_classify_quick(tmp_path):
    from recipes import classify

    metrics = classify.main(["--quick", "--verbose", "0", "--run-dir", str(tmp_path)])
    assert metrics["test_accuracy"] > 0.5
    assert (tmp_path / "model.keras").exists()


@pytest.mark.parametrize("name", ["yolo", "rcnn"])
def test_detector_quick(name, tmp_path):
    import importlib

    recipe = importlib.import_module(f"recipes.{name}")
    metrics = recipe.main(["--quick", "--verbose", "0", "--run-dir", str(tmp_path)])
    # Trained on JAX, decoded by TensorFlow's non-maximum suppression.
    assert metrics["map50"] > 0.1
    assert (tmp_path / "best.keras").exists()


def test_transfer_quick(tmp_path):
    from recipes import transfer

    metrics = transfer.main(["--quick", "--verbose", "0", "--run-dir", str(tmp_path)])
    assert len(metrics["regimes"]) == 4
    for regime in metrics["regimes"]:
        assert min(regime["accuracies"].values()) > 0.3, regime["regime"]
