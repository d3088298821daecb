import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from components.analysis import gradient_check, layer_gradient_check
from tests.components.layer_checks import assert_gradients_ok


def test_numerical_and_analytic_gradients_of_a_cubic():
    x = np.array([0.5, -1.0, 2.0, 3.0])
    result = gradient_check(lambda v: ops.sum(v**3), x)
    tolerance = 1e-4 if result.threshold < 1e-3 else 1e-2  # float64 or float32
    np.testing.assert_allclose(result.analytic[0], 3 * x**2, rtol=tolerance)
    np.testing.assert_allclose(result.numerical[0], 3 * x**2, rtol=tolerance)
    assert_gradients_ok(result)


def test_several_inputs_and_tensor_outputs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    result = gradient_check(lambda p, q: ops.tanh(ops.matmul(p, q)), [a, b])
    assert [g.shape for g in result.analytic] == [(3, 4), (4, 2)]
    assert_gradients_ok(result)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.custom_gradient"
)
def test_a_wrong_gradient_fails_the_check():
    @tf.custom_gradient
    def bad_square(x):
        return x * x, lambda upstream: upstream * x  # should be 2x

    result = gradient_check(
        lambda v: tf.reduce_sum(bad_square(v)), np.array([1.0, 2.0])
    )
    assert not result.passed and result.max_relative_error > 0.3
    assert "FAILED" in result.summary()


def test_large_inputs_are_subsampled():
    x = np.linspace(-1, 1, 1000)
    result = gradient_check(lambda v: ops.sum(ops.sin(v)), x, max_elements=50)
    assert len(result.checked[0]) == 50 and len(set(result.checked[0])) == 50
    assert result.analytic[0].shape == (1000,)
    assert_gradients_ok(result)


def test_model_loss_gradient_wrt_input_and_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="float64"),
            keras.layers.Dense(4, activation="tanh", dtype="float64"),
            keras.layers.Dense(3, activation="softmax", dtype="float64"),
        ]
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    result = layer_gradient_check(
        model,
        x,
        loss=keras.losses.SparseCategoricalCrossentropy(dtype="float64"),
        targets=y,
    )
    assert len(result.analytic) == 1 + len(model.trainable_weights)
    assert_gradients_ok(result)


def test_float32_gets_a_loose_threshold_and_a_warning():
    with pytest.warns(UserWarning, match="float32"):
        result = gradient_check(lambda v: ops.sum(ops.exp(v)), np.ones(3, "float32"))
    assert result.threshold == 1e-2 and result.passed


# --- conv arithmetic ----------------------------------------------------------

from components import models  # noqa: E402
from components.analysis import (  # noqa: E402
    conv_output_size,
    dense_to_conv,
    flops,
    receptive_field,
    same_padding,
    summarize,
)


def test_conv_output_size_formula():
    assert conv_output_size(227, 11, stride=4) == 55  # (227 - 11) / 4 + 1
    assert conv_output_size(32, 5, stride=1, padding=2) == 32
    assert conv_output_size(7, 3, stride=2) == 3  # the only case where /2 was right
    assert conv_output_size(9, 3, stride=3) == 3  # the notes' "/2" would give 4
    assert conv_output_size(10, 3, dilation=2) == 6  # effective kernel 5
    assert same_padding(3) == 1 and same_padding(5) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 5, "kernel": 7}, "does not fit"),
        ({"size": 7, "kernel": 3, "stride": -1}, "stride"),
        ({"size": 10, "kernel": 3, "stride": 2}, "not an integer"),
        ({"size": 5, "kernel": 3, "dilation": 3}, "effective size 7"),
        ({"size": 5, "kernel": 3, "padding": -1}, "padding"),
    ],
)
def test_conv_output_size_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(**kwargs)


def test_same_padding_needs_an_odd_kernel():
    with pytest.raises(ValueError, match="even kernel"):
        same_padding(4)


# --- receptive fields -----------------------------------------------------------


def _stack(kernels, dilations=None, pools=()):
    layers = [keras.Input((64, 64, 2))]
    for i, k in enumerate(kernels):
        d = dilations[i] if dilations else 1
        layers.append(
            keras.layers.Conv2D(2, k, padding="same", dilation_rate=d, name=f"c{i}")
        )
        if i in pools:
            layers.append(keras.layers.MaxPooling2D(2, name=f"p{i}"))
    return keras.Sequential(layers)


def test_stacked_3x3_see_5x5_then_7x7():
    assert receptive_field(_stack([3, 3, 3])) == {"c0": 3, "c1": 5, "c2": 7}


def test_dilated_stacks_grow_faster():
    plain = receptive_field(_stack([3, 3, 3, 3]))
    dilated = receptive_field(_stack([3, 3, 3, 3], dilations=[1, 2, 4, 8]))
    assert list(dilated.values()) == [3, 7, 15, 31]  # 2^(l+1) - 1
    assert all(d >= p for d, p in zip(dilated.values(), plain.values()))


def test_pooling_multiplies_later_growth_and_global_layers_see_everything():
    rf = receptive_field(_stack([3, 3], pools=(0,)))
    assert rf == {"c0": 3, "p0": 4, "c1": 8}
    vgg16 = receptive_field(models.build("vgg", (224, 224, 3), 10, preset="paper"))
    assert vgg16["stage5_3_conv"] == 196 and vgg16["stage5_3_pool"] == 212
    assert vgg16["flatten"] == 224 and vgg16["predictions"] == 224


# --- FLOPs and summary ---------------------------------------------------------


def test_flops_by_hand():
    model = keras.Sequential(
        [
            keras.Input((10, 10, 4)),
            keras.layers.Conv2D(6, 3, name="conv"),
            keras.layers.Conv2D(6, 1, groups=2, name="grouped"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, name="fc"),
        ]
    )
    result = flops(model)
    by_name = {row["name"]: row["macs"] for row in result["layers"]}
    assert by_name == {
        "conv": 8 * 8 * 6 * (3 * 3 * 4),  # the notes' formula
        "grouped": 8 * 8 * 6 * (1 * 1 * 6) // 2,
        "fc": 4 * 4 * 6 * 5,
    }
    assert (
        result["total_flops"] == 2 * result["total_macs"] == 2 * sum(by_name.values())
    )


def test_summary_shows_27c2_versus_49c2():
    c = 16
    three = _stack_no_bias([3, 3, 3], c)
    one = _stack_no_bias([7], c)
    s3, s1 = summarize(three), summarize(one)
    assert s3.total_params == 27 * c**2 and s1.total_params == 49 * c**2
    assert s3.rows[-1].receptive_field == s1.rows[-1].receptive_field == 7
    text = str(s3)
    assert "27" not in text.splitlines()[0] and f"{27 * c**2:,}" in text


def _stack_no_bias(kernels, channels):
    layers = [keras.Input((20, 20, channels))]
    layers += [
        keras.layers.Conv2D(channels, k, padding="same", use_bias=False)
        for k in kernels
    ]
    return keras.Sequential(layers)


# --- FC to CONV --------------------------------------------------------------------


def test_dense_to_conv_identical_on_training_size_and_maps_on_larger_inputs():
    keras.utils.set_random_seed(0)
    model = models.build("vgg", (16, 16, 1), 4, width=4, dense_units=(8, 6))
    conv = dense_to_conv(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(conv(x, training=False))[:, 0, 0],
        np.asarray(model(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )
    assert tuple(conv(rng.normal(size=(1, 32, 24, 1)), training=False).shape) == (
        1,
        3,
        2,
        4,
    )


def test_dense_to_conv_map_equals_the_model_on_every_crop():
    # Valid padding, so a crop sees exactly what the larger image shows there.
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    conv = dense_to_conv(model)
    big = np.random.default_rng(1).normal(size=(1, 20, 16, 2)).astype("float32")
    scores = np.asarray(conv(big))
    assert scores.shape == (1, 5, 3, 3)  # (20 - 12) / 2 + 1 by (16 - 12) / 2 + 1
    for i in range(5):
        for j in range(3):
            crop = big[:, 2 * i : 2 * i + 12, 2 * j : 2 * j + 12]
            np.testing.assert_allclose(
                scores[0, i, j], np.asarray(model(crop))[0], rtol=1e-5, atol=1e-6
            )


def test_dense_to_conv_errors():
    no_flatten = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Flatten"):
        dense_to_conv(no_flatten)
    inputs = keras.Input((8, 8, 3))
    left = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    right = keras.layers.Conv2D(4, 1)(inputs)
    merged = keras.layers.Flatten()(keras.layers.Add()([left, right]))
    two_branches = keras.Model(inputs, keras.layers.Dense(2)(merged))
    with pytest.raises(ValueError, match="merges or splits"):
        dense_to_conv(two_branches)
