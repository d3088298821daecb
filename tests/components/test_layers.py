import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.analysis import layer_gradient_check
from components.detection import RoIPooling  # a detection layer, tested here
from components.layers import (
    LocalResponseNormalization,
    Maxout,
    MinMaxScaling,
    RReLU,
    VanillaDropout,
    Whitening,
)
from tests.components.layer_checks import assert_gradients_ok, check_layer, output_of

RNG = np.random.default_rng(0)


def away_from_zero(shape, low=0.1):
    """Normal values with |x| >= low: smooth points for piecewise-linear layers."""
    x = RNG.normal(size=shape)
    return np.where(np.abs(x) < low, np.sign(x + 1e-12) * low, x)


# --- Maxout -----------------------------------------------------------------


def test_maxout_matches_numpy_grouping(tmp_path):
    x = RNG.normal(size=(3, 5, 12)).astype("float32")
    y = check_layer(Maxout(4), x, tmp_path)
    np.testing.assert_allclose(y, x.reshape(3, 5, 4, 3).max(axis=-1))


def test_maxout_on_another_axis():
    x = RNG.normal(size=(2, 6, 4, 4)).astype("float32")  # channels first
    y = output_of(Maxout(3, axis=1), x)
    expected = x.reshape(2, 3, 2, 4, 4).max(axis=2)
    np.testing.assert_allclose(y, expected)


def test_maxout_gradient():
    layer = Maxout(2, dtype="float64")
    assert_gradients_ok(layer_gradient_check(layer, RNG.normal(size=(4, 6))))


def test_maxout_bad_arguments():
    with pytest.raises(ValueError, match="num_units"):
        Maxout(0)
    with pytest.raises(ValueError, match="not a multiple of num_units=4"):
        Maxout(4)(np.zeros((1, 6), "float32"))


# --- RReLU ------------------------------------------------------------------


def test_rrelu_inference_is_leaky_relu_at_the_mean_slope(tmp_path):
    x = RNG.normal(size=(4, 10)).astype("float32")
    y = check_layer(RReLU(0.1, 0.3), x, tmp_path)
    reference = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    np.testing.assert_allclose(y, np.asarray(reference), rtol=1e-6)


def test_rrelu_training_samples_a_slope_per_element():
    x = -np.ones((200, 50), "float32")
    y = output_of(RReLU(0.1, 0.3, seed=1), x, training=True)
    slopes = -y
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert slopes.std() > 0.05  # uniform on [0.1, 0.3] has std 0.058
    assert abs(slopes.mean() - 0.2) < 0.005
    positive = output_of(RReLU(seed=1), np.abs(x), training=True)
    np.testing.assert_array_equal(positive, np.abs(x))


def test_rrelu_gradient():
    layer = RReLU(dtype="float64")
    assert_gradients_ok(layer_gradient_check(layer, away_from_zero((3, 7))))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lower": 0.4, "upper": 0.2}, "lower <= upper"),
        ({"lower": -0.1}, "lower"),
        ({"upper": 2}, "upper"),
    ],
)
def test_rrelu_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RReLU(**kwargs)


# --- Local response normalization ---------------------------------------------


@pytest.mark.parametrize("radius", [0, 2, 3])
def test_lrn_matches_tensorflow(radius, tmp_path):
    x = RNG.normal(size=(2, 5, 5, 8)).astype("float32") * 10
    layer = LocalResponseNormalization(
        depth_radius=radius, bias=2.0, alpha=1e-3, beta=0.75
    )
    y = check_layer(layer, x, tmp_path)
    expected = tf.nn.local_response_normalization(
        x, depth_radius=radius, bias=2.0, alpha=1e-3, beta=0.75
    )
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-5)


def test_lrn_paper_defaults_and_gradient():
    config = LocalResponseNormalization().get_config()
    defaults = tuple(config[k] for k in ("depth_radius", "bias", "alpha", "beta"))
    assert defaults == (2, 2.0, 1e-4, 0.75)
    # alpha * (sum of squares) ~ 0.5 next to bias 2: the normalization matters.
    layer = LocalResponseNormalization(alpha=1e-3, dtype="float64")
    x = RNG.normal(size=(2, 3, 3, 6)) * 10
    assert_gradients_ok(layer_gradient_check(layer, x))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth_radius": -1}, "depth_radius"),
        ({"bias": 0.0}, "bias"),
        ({"beta": -1}, "beta"),
    ],
)
def test_lrn_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalResponseNormalization(**kwargs)


# --- Whitening ----------------------------------------------------------------


def correlated(n=2000, d=6):
    mixing = RNG.normal(size=(d, d))
    return (RNG.normal(size=(n, d)) @ mixing + 3.0).astype("float32")


def covariance(x):
    centred = x - x.mean(axis=0)
    return centred.T @ centred / len(x)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitened_training_data_has_identity_covariance(method, tmp_path):
    x = correlated()
    layer = Whitening(method, epsilon=1e-8)
    layer.adapt(x)
    y = check_layer(layer, x, tmp_path, rtol=1e-4)
    np.testing.assert_allclose(covariance(y), np.eye(6), atol=1e-3)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-3)


def test_pca_and_zca_follow_the_notes_formulas():
    x = correlated().astype("float64")
    # The notes' code, verbatim in spirit.
    centred = x - np.mean(x, axis=0)
    cov = np.dot(centred.T, centred) / centred.shape[0]
    u, s, _ = np.linalg.svd(cov)
    xrot = np.dot(centred, u)
    xwhite = xrot / np.sqrt(s + 1e-5)

    pca = Whitening("pca", epsilon=1e-5)
    pca.adapt(x)
    y = output_of(pca, x)
    signs = np.sign(np.sum(y * xwhite, axis=0))  # eigenvectors are defined up to sign
    np.testing.assert_allclose(y * signs, xwhite, rtol=1e-3, atol=1e-4)

    zca = Whitening("zca", epsilon=1e-5)
    zca.adapt(x)
    np.testing.assert_allclose(output_of(zca, x), xwhite @ u.T, rtol=1e-3, atol=1e-4)


def test_n_components_keeps_the_top_components():
    x = correlated().astype("float64")
    layer = Whitening("pca", n_components=2)
    layer.adapt(x)
    y = output_of(layer, x)
    assert y.shape == (2000, 2) and layer.compute_output_shape((None, 6)) == (None, 2)
    np.testing.assert_allclose(covariance(y), np.eye(2), atol=1e-3)
    # The kept directions are those of largest variance (the notes' Xrot_reduced).
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(covariance(x))
    reduced = centred @ u[:, :2] / np.sqrt(s[:2] + 1e-5)
    np.testing.assert_allclose(np.abs(y), np.abs(reduced), rtol=1e-3, atol=1e-4)


def test_zca_keeps_image_shape_and_survives_rank_deficient_data(tmp_path):
    images = RNG.random((300, 4, 4, 2)).astype("float32")
    images[..., 1] = images[..., 0]  # half the features are copies: singular covariance
    layer = Whitening("zca")
    layer.adapt(tf.data.Dataset.from_tensor_slices(images).batch(64))
    y = check_layer(layer, images, tmp_path, rtol=1e-4)
    assert y.shape == images.shape and np.isfinite(y).all()


def test_whitening_statistics_come_from_adapt_only():
    train, test = correlated(), correlated() * 5
    layer = Whitening("zca")
    layer.adapt(train)
    before = [w.copy() for w in layer.get_weights()]
    output_of(layer, test)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_whitening_gradient():
    layer = Whitening("zca", dtype="float64")
    layer.adapt(correlated(d=4))
    assert_gradients_ok(layer_gradient_check(layer, RNG.normal(size=(3, 4))))


def test_whitening_errors():
    with pytest.raises(ValueError, match="has not been adapted"):
        Whitening()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="epsilon"):
        Whitening(epsilon=0)
    with pytest.raises(ValueError, match="method"):
        Whitening("svd")
    with pytest.raises(ValueError, match="n_components"):
        Whitening("pca", n_components=10).adapt(np.zeros((5, 3)))


# --- MinMaxScaling ------------------------------------------------------------


def test_min_max_scaling_maps_training_range(tmp_path):
    x = correlated() * [1, 10, 100, 1, 1, 1]
    x[:, 4] = 7.0  # constant feature
    layer = MinMaxScaling()
    layer.adapt(x)
    y = check_layer(layer, x, tmp_path, rtol=1e-5)
    np.testing.assert_allclose(y.min(axis=0)[[0, 1, 2, 3, 5]], -1.0, atol=1e-6)
    np.testing.assert_allclose(y.max(axis=0)[[0, 1, 2, 3, 5]], 1.0, atol=1e-6)
    np.testing.assert_array_equal(y[:, 4], 0.0)  # middle of the range, no NaN


def test_min_max_scaling_custom_range_and_gradient():
    layer = MinMaxScaling(feature_range=(0, 1), dtype="float64")
    layer.adapt(np.array([[2.0, -1.0], [4.0, 3.0]]))
    np.testing.assert_allclose(output_of(layer, np.array([[3.0, 1.0]])), [[0.5, 0.5]])
    assert_gradients_ok(layer_gradient_check(layer, RNG.normal(size=(3, 2))))


def test_min_max_scaling_errors():
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaling(feature_range=(1, -1))
    with pytest.raises(ValueError, match="has not been adapted"):
        MinMaxScaling()(np.zeros((2, 3), "float32"))


# --- VanillaDropout -----------------------------------------------------------


def test_vanilla_dropout_scales_at_test_time(tmp_path):
    x = RNG.normal(size=(4, 8)).astype("float32")
    y = check_layer(VanillaDropout(0.3), x, tmp_path)
    np.testing.assert_allclose(y, 0.7 * x, rtol=1e-6)


def test_vanilla_dropout_training_drops_without_scaling():
    x = np.full((400, 100), 2.0, "float32")
    y = output_of(VanillaDropout(0.3, seed=0), x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs((y == 0).mean() - 0.3) < 0.01


def test_vanilla_dropout_equals_keras_inverted_dropout_in_expectation():
    x = np.linspace(-2, 2, 50).astype("float32")
    batch = np.tile(x, (20000, 1))
    vanilla = output_of(VanillaDropout(0.4, seed=0), batch, training=True).mean(axis=0)
    inverted = np.asarray(keras.layers.Dropout(0.4, seed=0)(batch, training=True)).mean(
        axis=0
    )
    # E[vanilla] = (1 - rate) x = (1 - rate) E[inverted] = vanilla at test time.
    np.testing.assert_allclose(vanilla, 0.6 * inverted, atol=0.02)
    np.testing.assert_allclose(vanilla, output_of(VanillaDropout(0.4), x), atol=0.02)
    np.testing.assert_allclose(inverted, x, atol=0.04)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_vanilla_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match=r"`rate`. Expected a float in \[0, 1\)"):
        VanillaDropout(rate)


# --- every layer in a fresh process ---------------------------------------------


# --- RoIPooling ---------------------------------------------------------------


def numpy_roi_pool(features, rois, pool_h, pool_w, scale):
    """Fast R-CNN's RoI max pooling, one loop per bin (the Caffe layer, on the
    region clipped to the map)."""
    batch, height, width, channels = features.shape
    out = np.zeros((batch, rois.shape[1], pool_h, pool_w, channels), "float32")
    for b in range(batch):
        for r in range(rois.shape[1]):
            if (rois[b, r] < 0).all():
                continue
            x0, y0, x1, y1 = (int(np.round(v * scale)) for v in rois[b, r])
            if x0 > width - 1 or y0 > height - 1 or x1 < 0 or y1 < 0:
                continue
            x0, x1 = np.clip([x0, x1], 0, width - 1)
            y0, y1 = np.clip([y0, y1], 0, height - 1)
            roi_h, roi_w = max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1)
            for i in range(pool_h):
                top = min(max(math.floor(i * roi_h / pool_h) + y0, 0), height)
                bottom = min(max(math.ceil((i + 1) * roi_h / pool_h) + y0, 0), height)
                for j in range(pool_w):
                    left = min(max(math.floor(j * roi_w / pool_w) + x0, 0), width)
                    right = min(max(math.ceil((j + 1) * roi_w / pool_w) + x0, 0), width)
                    if bottom > top and right > left:
                        window = features[b, top:bottom, left:right]
                        out[b, r, i, j] = window.max(axis=(0, 1))
    return out


@pytest.mark.parametrize("pool", [(7, 7), (2, 3), (4, 4), (1, 1)])
def test_roi_pooling_matches_numpy(pool):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 14, 14, 3)).astype("float32")
    corner = rng.uniform(-30, 120, size=(2, 10, 2))
    rois = np.concatenate([corner, corner + rng.uniform(1, 90, (2, 10, 2))], -1)
    rois = rois.astype("float32")
    rois[1, 3] = -1.0  # padding
    rois[0, 0] = [200, 200, 230, 240]  # entirely outside the map
    layer = RoIPooling(pool, spatial_scale=1 / 8)
    got = keras.ops.convert_to_numpy(layer([features, rois]))
    np.testing.assert_allclose(got, numpy_roi_pool(features, rois, *pool, 1 / 8))
    assert not got[0, 0].any() and not got[1, 3].any()
    clone = RoIPooling.from_config(layer.get_config())
    assert clone.pool_size == pool and clone.spatial_scale == 1 / 8


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.GradientTape")
def test_roi_pooling_routes_gradient_to_each_bins_maximum():
    features = tf.Variable(
        np.random.default_rng(1).normal(size=(1, 8, 8, 1)), dtype="float32"
    )
    rois = np.array([[[0, 0, 56, 56]]], "float32")  # cells 0-7: 2 x 2 bins of 4 x 4
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(RoIPooling(2)([features, rois]))
    grad = tape.gradient(total, features).numpy()[0, :, :, 0]
    values = features.numpy()[0, :, :, 0]
    expected = np.zeros_like(values)
    for i in range(2):
        for j in range(2):
            block = values[4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
            r, c = np.unravel_index(block.argmax(), block.shape)
            expected[4 * i + r, 4 * j + c] = 1.0
    np.testing.assert_array_equal(grad, expected)


def test_roi_pooling_bad_input():
    with pytest.raises(ValueError, match="pool_size"):
        RoIPooling(0)
    with pytest.raises(ValueError, match="spatial_scale"):
        RoIPooling(2, spatial_scale=0)
    with pytest.raises(ValueError, match=r"rois \(batch, R, 4\)"):
        RoIPooling(2)([np.zeros((1, 4, 4, 1)), np.zeros((1, 3, 5))])


def test_all_layers_load_in_a_fresh_process_with_safe_mode(tmp_path):
    x = RNG.normal(size=(8, 4, 4, 6)).astype("float32")
    inputs = keras.Input((4, 4, 6))
    h = LocalResponseNormalization()(inputs)
    h = RReLU(seed=1)(h)
    h = VanillaDropout(0.2)(h)
    scale = MinMaxScaling()
    scale.adapt(x)
    h = scale(h)
    white = Whitening("zca")
    white.adapt(x)
    h = white(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(12)(h)
    outputs = Maxout(3)(h)
    model = keras.Model(inputs, outputs)
    path, data_path = tmp_path / "all.keras", tmp_path / "x.npy"
    model.save(path)
    np.save(data_path, x)
    expected = np.asarray(model(x))
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import components.layers  # registers the custom objects
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        np.save({str(tmp_path / "y.npy")!r}, np.asarray(model(np.load({str(data_path)!r}))))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    np.testing.assert_allclose(
        np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6
    )
