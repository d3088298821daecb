import keras
import numpy as np
import pytest

from components import models


@pytest.mark.parametrize("name", models.available())
def test_every_builder_runs_and_round_trips(name, tmp_path):
    """timm-style zoo test: forward pass, no NaN, `.keras` round trip."""
    model = models.build(name, (32, 32, 3), 7)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, 7) and np.isfinite(y).all()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), y, rtol=1e-5, atol=1e-6
    )


def test_vgg_doubles_filters_after_each_pool_and_caps_them():
    model = models.build("vgg", (64, 64, 1), 10, width=4, stages=(1, 2, 1, 1, 1))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 8, 8, 16, 32, 32]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert not any(c.use_bias for c in convs)  # batch norm replaces the bias
    pools = [
        layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)
    ]
    assert len(pools) == 5 and model.get_layer("flatten").output.shape[1:] == (
        2 * 2 * 32,
    )


def test_vgg_initializers_and_raw_scores():
    model = models.build("vgg", (16, 16, 1), 3, width=4, classifier_activation=None)
    conv = model.get_layer("stage1_1_conv")
    dense = model.get_layer("fc_dense")
    assert isinstance(conv.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(dense.kernel_initializer, keras.initializers.GlorotUniform)
    scores = np.asarray(model(np.ones((2, 16, 16, 1)) * 5.0))
    assert not np.allclose(scores.sum(axis=1), 1.0)  # not a softmax


def test_vgg_without_batch_norm_has_biases_and_l2_adds_losses():
    model = models.build("vgg", (16, 16, 1), 3, width=4, batch_norm=False, l2=1e-3)
    assert model.get_layer("stage1_1_conv").use_bias
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers
    )
    model(np.ones((1, 16, 16, 1)))
    assert len(model.losses) == len(
        [layer for layer in model.layers if hasattr(layer, "kernel")]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (4, 4, 1)}, r"at least 8x8"),
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"num_classes": 1}, "num_classes"),
        ({"width": 0}, "width"),
        ({"stages": ()}, "stages"),
        ({"dropout": 1.0}, "dropout"),
        ({"l2": -1.0}, "l2"),
        ({"depth_multiplier": 2}, "Unknown option"),
    ],
)
def test_vgg_bad_arguments(kwargs, match):
    args = {"input_shape": (16, 16, 1), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        models.build("vgg", **args)


def test_registry_errors():
    with pytest.raises(ValueError, match="Expected one of.*vgg"):
        models.build("resnet9000", (16, 16, 1), 10)
    with pytest.raises(ValueError, match="already registered"):
        models.register("vgg")(lambda input_shape, num_classes: None)
    assert "width" in models.builder_options("vgg")
