import keras
import numpy as np
import pytest

from components import data, models, transfer

RNG = np.random.default_rng(0)
X = RNG.random((16, 16, 16, 1)).astype("float32")
Y = np.arange(16) % 4


def tiny_vgg():
    keras.utils.set_random_seed(0)
    return models.build("vgg", (16, 16, 1), 4, width=4)


def weights_by_name(model):
    return {w.path: np.array(w) for w in model.weights}


def fit_once(model):
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
    )
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)


def test_frozen_model_changes_nothing_not_even_batch_norm_statistics():
    model = transfer.freeze(tiny_vgg())
    before = weights_by_name(model)
    fit_once(model)
    after = weights_by_name(model)
    assert model.trainable_weights == []
    for path, value in before.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)


def test_unfreeze_from_a_layer_trains_only_the_top_and_keeps_batch_norm_frozen():
    model = transfer.unfreeze(transfer.freeze(tiny_vgg()), from_layer="stage2_1_conv")
    before = weights_by_name(model)
    fit_once(model)
    after = weights_by_name(model)
    order = [layer.name for layer in model.layers]
    start = order.index("stage2_1_conv")
    for layer in model.layers:
        for weight in layer.weights:
            changed = not np.array_equal(before[weight.path], after[weight.path])
            is_bn = isinstance(layer, keras.layers.BatchNormalization)
            expected = order.index(layer.name) >= start and not is_bn
            assert changed == expected, weight.path
    # The moving statistics of every batch norm stayed where they were.
    moving = [p for p in before if "moving" in p]
    assert moving and all(np.array_equal(before[p], after[p]) for p in moving)


def test_unfreeze_all_with_batch_norm_trainable_when_asked():
    model = transfer.unfreeze(transfer.freeze(tiny_vgg()), keep_batch_norm_frozen=False)
    assert model.get_layer("stage1_1_bn").trainable
    assert len(model.trainable_weights) == len(
        [w for w in model.weights if "moving" not in w.path]
    )


def test_early_codes_are_the_named_layer_pooled_to_the_grid():
    model = tiny_vgg()
    codes = np.asarray(transfer.feature_extractor(model, "stage1_2_act", grid=2)(X))
    maps = np.asarray(
        keras.Model(model.input, model.get_layer("stage1_2_act").output)(X)
    )
    # 16x16 maps, 2x2 grid: the mean of each 8x8 quarter, flattened row-major.
    expected = maps.reshape(16, 2, 8, 2, 8, maps.shape[-1]).mean(axis=(2, 4))
    np.testing.assert_allclose(codes, expected.reshape(16, -1), rtol=1e-5, atol=1e-6)


def test_top_codes_are_the_classifier_input():
    model = tiny_vgg()
    codes = np.asarray(transfer.feature_extractor(model)(X))
    dense = model.layers[-1]
    kernel, bias = (np.asarray(w) for w in dense.weights)
    logits = codes @ kernel + bias
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, np.asarray(model(X)), rtol=1e-4, atol=1e-6)


@pytest.mark.backend_independent
def test_default_early_layer_of_an_application():
    base, _ = transfer.application_base("MobileNetV2", (32, 32, 3), weights=None)
    name = transfer.default_early_layer(base)
    # The end of MobileNetV2's second resolution stage (8x8 at 32x32 input).
    layer = base.get_layer(name)
    assert layer.output.shape[1:3] == (8, 8)
    assert (
        transfer.feature_extractor(base, name).output.shape[-1]
        == layer.output.shape[-1]
    )
    following = base.layers[base.layers.index(layer) + 1 :]
    assert not any(later.output.shape[1:3] == (8, 8) for later in following)


@pytest.mark.parametrize(
    "name, module",
    [
        ("MobileNetV2", "mobilenet_v2"),
        ("DenseNet121", "densenet"),
        ("EfficientNetB0", "efficientnet"),
    ],
)
def test_preprocessing_layer_matches_keras_preprocess_input(name, module):
    images = RNG.random((2, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, module).preprocess_input(images * 255.0)
    got = transfer.preprocessing_layer(name)(images)
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4
    )


def test_bad_layer_names_and_inputs_get_clear_errors():
    model = tiny_vgg()
    with pytest.raises(ValueError, match="layer_name.*stage1_1_conv.*'nope'"):
        transfer.feature_extractor(model, "nope")
    outer = keras.Sequential([keras.Input((16, 16, 1)), model])
    with pytest.raises(ValueError, match="nested model"):
        transfer.feature_extractor(outer, "stage1_1_conv")
    with pytest.raises(ValueError, match="grid"):
        transfer.feature_extractor(model, "stage3_2_pool", grid=4)
    with pytest.raises(ValueError, match="name"):
        transfer.preprocessing_layer("VGG16")
    with pytest.raises(ValueError, match="input_shape"):
        transfer.application_base("MobileNetV2", (32, 32, 1), weights=None)


@pytest.mark.parametrize(
    "per_class, similar, strategy",
    [
        (10, True, "linear_top"),
        (10, False, "linear_early"),
        (500, True, "fine_tune"),
        (500, False, "fine_tune"),
        (49, True, "linear_top"),
        (50, True, "fine_tune"),
    ],
)
def test_recommend_regime_follows_the_notes_table(per_class, similar, strategy):
    regime = transfer.recommend_regime(per_class, similar)
    assert regime.strategy == strategy
    assert regime.strategy in transfer.STRATEGIES
    assert "linear classifier" in regime.reason or "fine-tune" in regime.reason


def test_recommend_regime_rejects_bad_input():
    with pytest.raises(ValueError, match="examples_per_class"):
        transfer.recommend_regime(0, True)
    with pytest.raises(ValueError, match="similar"):
        transfer.recommend_regime(10, "yes")


def test_linear_svm_on_codes_separates_separable_classes():
    centers = RNG.normal(0, 3, (3, 5))
    labels = np.repeat(np.arange(3), 30)
    codes = centers[labels] + RNG.normal(0, 0.3, (90, 5))
    head = transfer.fit_linear_classifier(codes, labels, 3, loss="svm", epochs=60)
    assert head.get_layer("linear").activation.__name__ == "linear"  # raw scores
    assert np.mean(head.predict(codes, verbose=0).argmax(-1) == labels) == 1.0
    with pytest.raises(ValueError, match="codes"):
        transfer.fit_linear_classifier(codes, labels[:-1], 3)
    with pytest.raises(ValueError, match="loss"):
        transfer.linear_classifier(5, 3, loss="hinge")


def test_textures_are_deterministic_bounded_and_balanced():
    a, la = data.texture_arrays(4, image_size=12, seed=3)
    b, lb = data.texture_arrays(4, image_size=12, seed=3)
    c, _ = data.texture_arrays(4, image_size=12, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.bincount(la).tolist() == [4] * len(data.TEXTURE_CLASSES)
    # Horizontal stripes vary down the columns, vertical ones along the rows.
    horizontal, vertical = a[la == 0, ..., 0], a[la == 1, ..., 0]
    assert horizontal.mean(axis=2).std() > horizontal.mean(axis=1).std()
    assert vertical.mean(axis=1).std() > vertical.mean(axis=2).std()


def test_class_subsets_and_per_class_samples():
    images = np.arange(12)[:, None]
    labels = np.array([0, 1, 2] * 4)
    kept, new = data.select_classes(images, labels, [2, 0])
    assert kept[:, 0].tolist() == [0, 2, 3, 5, 6, 8, 9, 11]
    assert new.tolist() == [1, 0] * 4
    index = data.sample_per_class(labels, 3, seed=1)
    assert np.bincount(labels[index]).tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="classes"):
        data.select_classes(images, labels, [0, 7])
    with pytest.raises(ValueError, match="per_class"):
        data.sample_per_class(labels, 5)
