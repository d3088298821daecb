import keras
import numpy as np
import pytest

from components import models
from components.analysis import flops
from components.layers import LocalResponseNormalization, Maxout
from components.models import ACTIVATIONS


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
    dense = model.get_layer("fc1_dense")
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
        ({"preset": "huge"}, "preset"),
        ({"depth": 17}, "depth"),
        ({"activation": "swish"}, "activation"),
        ({"activation": "maxout"}, "only offered by the 'mlp' builder"),
        ({"init": "orthogonal"}, "init"),
        ({"activation": "prelu", "relu_after_pool": True}, "commutes with max-pooling"),
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"num_classes": 1}, "num_classes"),
        ({"width": 0}, "width"),
        ({"stages": ()}, "stages"),
        ({"dropout": 1.0}, "dropout"),
        ({"l2": -1.0}, "l2"),
        ({"depth_multiplier": 2}, "Unknown option"),
        ({"l1": -0.1}, "l1"),
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


# --- paper presets: published parameter counts and multiply-adds ---------------


@pytest.mark.backend_independent
def test_vgg16_paper_preset_equals_keras_applications():
    ours = models.build("vgg", (224, 224, 3), 1000, preset="paper", depth=16)
    reference = keras.applications.VGG16(weights=None)
    assert ours.count_params() == reference.count_params() == 138_357_544
    assert flops(ours)["total_macs"] == pytest.approx(15.5e9, rel=0.01)


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
def test_vgg_depth_presets_have_depth_weight_layers(depth):
    model = models.build(
        "vgg", (32, 32, 3), 10, preset="paper", depth=depth, dense_units=(8, 8)
    )
    weighted = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert len(weighted) == depth  # convolutions + 3 dense layers


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "name, shape, params, macs",
    [
        ("alexnet", (227, 227, 3), 61e6, 0.72e9),  # paper: 60M; grouped convs
        ("googlenet", (224, 224, 3), 6.8e6, 1.5e9),  # paper table 1: ~6.8M, 1.5 G
        ("squeezenet", (224, 224, 3), 1.248e6, None),  # paper table 1: 1,248,424
    ],
)
def test_paper_presets_match_published_figures(name, shape, params, macs):
    model = models.build(name, shape, 1000, preset="paper")
    assert model.count_params() == pytest.approx(params, rel=0.03)
    if macs:
        assert flops(model)["total_macs"] == pytest.approx(macs, rel=0.06)


@pytest.mark.backend_independent
def test_googlenet_and_squeezenet_have_no_large_dense_layers():
    google = models.build("googlenet", (224, 224, 3), 1000, preset="paper")
    dense = [layer for layer in google.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.name for d in dense] == ["predictions"]
    assert google.get_layer("avg_pool").output.shape[1:] == (1024,)  # 7x7x1024 -> 1024
    modules = {
        layer.name.split("_")[0]
        for layer in google.layers
        if layer.name.startswith("inception")
    }
    assert len(modules) == 9
    squeeze = models.build("squeezenet", (224, 224, 3), 1000, preset="paper")
    assert not any(isinstance(layer, keras.layers.Dense) for layer in squeeze.layers)
    fires = {
        layer.name.split("_")[0]
        for layer in squeeze.layers
        if layer.name.startswith("fire")
    }
    assert len(fires) == 8


def test_alexnet_normalization_option():
    with_lrn = models.build("alexnet", (32, 32, 3), 10, width=4)
    without = models.build("alexnet", (32, 32, 3), 10, width=4, normalization="none")
    lrn = [
        layer
        for layer in with_lrn.layers
        if isinstance(layer, LocalResponseNormalization)
    ]
    assert len(lrn) == 2
    assert not any(
        isinstance(layer, LocalResponseNormalization) for layer in without.layers
    )
    # The LRN output feeds the max-pool: "LRN then max-pool".
    pool = with_lrn.get_layer("conv1_pool")
    assert pool._inbound_nodes[0].parent_nodes[0].operation is lrn[0]
    with pytest.raises(ValueError, match="normalization"):
        models.build("alexnet", (32, 32, 3), 10, normalization="batch")
    with pytest.raises(ValueError, match="at least 67x67"):
        models.build("alexnet", (64, 64, 3), 10, preset="paper")


@pytest.mark.parametrize(
    "name, kwargs",
    [("vgg", {"width": 4}), ("alexnet", {"width": 4, "normalization": "none"})],
)
def test_relu_after_pool_gives_the_same_outputs(name, kwargs):
    usual = models.build(name, (32, 32, 3), 10, **kwargs)
    swapped = models.build(name, (32, 32, 3), 10, relu_after_pool=True, **kwargs)
    swapped.set_weights(usual.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(swapped(x, training=False)),
        np.asarray(usual(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )
    # ...while the non-linearity now runs on the pooled, 4x smaller maps.
    act = swapped.get_layer("stage1_2_act" if name == "vgg" else "conv1_act")
    pool = swapped.get_layer("stage1_2_pool" if name == "vgg" else "conv1_pool")
    assert act._inbound_nodes[0].parent_nodes[0].operation is pool


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_activations(activation):
    model = models.build("mlp", (8, 8, 1), 10, hidden=(16,), activation=activation)
    y = np.asarray(model(np.random.default_rng(0).random((3, 8, 8, 1)), training=False))
    assert y.shape == (3, 10) and np.isfinite(y).all()
    if activation == "maxout":
        assert model.get_layer("hidden1_dense").units == 32
        assert isinstance(model.get_layer("hidden1_maxout"), Maxout)


def test_init_policies():
    def kernel(init, layer="stage1_1_conv"):
        model = models.build("vgg", (16, 16, 1), 3, width=32, init=init)
        return np.asarray(model.get_layer(layer).kernel)

    assert not kernel("zeros").any()
    assert np.std(kernel("small_random")) == pytest.approx(0.01, rel=0.1)
    fan_in = 3 * 3 * 1
    assert np.std(kernel("default")) == pytest.approx(
        np.sqrt(2 / fan_in), rel=0.15
    )  # He
    assert np.std(kernel("lecun")) == pytest.approx(np.sqrt(1 / fan_in), rel=0.15)
    dense = kernel("default", "fc1_dense")  # Glorot uniform: limit sqrt(6 / (in + out))
    limit = np.sqrt(6 / (dense.shape[0] + dense.shape[1]))
    assert np.abs(dense).max() <= limit and np.abs(dense).max() > 0.9 * limit


def test_linear_is_one_dense_layer_on_pixels():
    model = models.build("linear", (8, 8, 1), 10, classifier_activation=None)
    assert model.count_params() == 64 * 10 + 10
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    w, b = model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(
        np.asarray(model(x)), x.reshape(2, -1) @ w + b, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", ["vgg", "alexnet", "squeezenet"])
def test_include_top_false_gives_the_feature_map_the_classifier_reads(name):
    # As keras.applications' include_top=False: the model up to its last
    # feature map. The head reads exactly that map (same weights, same input).
    keras.utils.set_random_seed(0)
    full = models.build(name, (32, 32, 3), 7)
    trunk = models.build(name, (32, 32, 3), 7, include_top=False)
    assert len(trunk.output.shape) == 4
    assert trunk.output.shape[-1] != 7 or name != "squeezenet"  # not the class map
    assert trunk.count_params() < full.count_params()
    cut = keras.Model(full.input, full.get_layer("features").output)
    cut.set_weights(trunk.get_weights())
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(cut(x, training=False)),
        np.asarray(trunk(x, training=False)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_include_top_false_is_refused_without_a_feature_map(name):
    with pytest.raises(ValueError, match="`include_top`"):
        models.build(name, (8, 8, 1), 3, include_top=False)
    with pytest.raises(ValueError, match="`include_top`"):
        models.build("vgg", (8, 8, 1), 3, include_top="no")
