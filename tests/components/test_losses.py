import keras
import numpy as np
import pytest
import tensorflow as tf

from components.analysis import gradient_check
from components.losses import MulticlassSVM
from tests.components.layer_checks import assert_gradients_ok


def naive_svm_loss(scores, labels, margin=1.0):
    """The notes' L_i = sum_{j != y_i} max(0, f_j - f_{y_i} + margin), by loops."""
    total = 0.0
    for s, y in zip(scores, labels):
        for j in range(len(s)):
            if j != y:
                total += max(0.0, s[j] - s[y] + margin)
    return total / len(scores)


def test_cs231n_worked_example():
    # CS231n's three images (cat, car, frog): losses 2.9, 0 and 12.9.
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    loss = MulticlassSVM()(np.array([0, 1, 2]), scores)
    assert float(loss) == pytest.approx((2.9 + 0.0 + 12.9) / 3, abs=1e-5)


@pytest.mark.parametrize("margin", [1.0, 0.5, 3.0])
def test_matches_the_naive_loop(margin):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(16, 7)) * 2
    labels = rng.integers(0, 7, size=16)
    loss = MulticlassSVM(margin=margin)(labels.reshape(-1, 1), scores)
    assert float(loss) == pytest.approx(
        naive_svm_loss(scores, labels, margin), rel=1e-5
    )


def test_differs_from_keras_crammer_singer_hinge():
    # Two wrong classes inside the margin: Weston-Watkins counts both, the
    # Crammer-Singer form (Keras's CategoricalHinge) only the largest.
    scores = np.array([[1.0, 0.8, 0.6]])
    ours = float(MulticlassSVM()(np.array([0]), scores))
    theirs = float(keras.losses.CategoricalHinge()(np.array([[1.0, 0.0, 0.0]]), scores))
    assert ours == pytest.approx(0.8 + 0.6) and theirs == pytest.approx(0.8)


def test_gradient_wrt_scores():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, size=6)
    scores = rng.normal(size=(6, 5)) * 3  # margins away from the hinge's kink
    loss = MulticlassSVM(dtype="float64")
    assert_gradients_ok(gradient_check(lambda s: loss(labels, s), scores))


def test_labels_out_of_range():
    with pytest.raises(
        ValueError, match=r"`y_true`: labels out of range.*\[0, 3\).*\[3\]"
    ):
        MulticlassSVM()(np.array([0, 3]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels out of range"):
        MulticlassSVM()(np.array([-1]), np.zeros((1, 3)))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function")
def test_out_of_range_labels_in_a_compiled_step_give_nan_not_a_silent_value():
    loss = MulticlassSVM()
    compiled = tf.function(lambda y, s: loss(y, s))
    value = compiled(tf.constant([0, 5]), tf.zeros((2, 3)))
    assert np.isnan(value.numpy())
    assert float(compiled(tf.constant([0, 1]), tf.zeros((2, 3)))) == pytest.approx(2.0)


def test_margin_validation_and_serialization():
    with pytest.raises(ValueError, match="margin"):
        MulticlassSVM(margin=0)
    loss = MulticlassSVM(margin=2.5)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, MulticlassSVM) and restored.margin == 2.5


def test_trains_a_linear_classifier_and_survives_save(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=MulticlassSVM())
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.25 * history.history["loss"][0]
    assert np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y) > 0.9
    model.save(tmp_path / "svm.keras")
    loaded = keras.saving.load_model(tmp_path / "svm.keras", safe_mode=True)
    assert isinstance(loaded.loss, MulticlassSVM)
