"""The doctor: every check on a model or data built to fail it and one built to
pass it (both backends), the learning-rate finder's pitfalls, the model left as
it was, the report and the TensorBoard histograms."""

import json

import keras
import numpy as np
import pytest
from keras import ops

from components.analysis import diagnose, find_learning_rate
from components.analysis.doctor import CHECKS
from components.callbacks import HistogramLogger

CLASSES = 4


def separable(count=256, features=16, seed=0):
    """Inputs N(0, 1) and labels a linear function of them: learnable."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, features)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(features, CLASSES)), axis=1).astype("int32")
    return x, y


def mlp(
    depth=2,
    units=32,
    activation="relu",
    init="he_normal",
    bias=None,
    out_init=None,
    features=16,
    last=CLASSES,
):
    layers = [keras.Input((features,))]
    for i in range(depth):
        layers.append(
            keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=init,
                bias_initializer=bias or "zeros",
                name=f"hidden{i}",
            )
        )
    layers.append(
        keras.layers.Dense(
            last, kernel_initializer=out_init or "glorot_uniform", name="scores"
        )
    )
    keras.utils.set_random_seed(0)
    return keras.Sequential(layers)


def run(model, data, check, optimizer=None, loss=None):
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return diagnose(
        model, data, loss=loss, optimizer=optimizer, checks=[check], verbose=0
    )[check]


def batched(x, y, shuffle):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=0)
    return dataset.batch(32)


def test_shuffled_fails_data_sorted_by_class():
    x, y = separable()
    order = np.argsort(y, kind="stable")
    assert run(mlp(), batched(x[order], y[order], False), "shuffled").status == "fail"
    assert run(mlp(), batched(x, y, True), "shuffled").status == "pass"


def test_input_scale_fails_raw_pixels():
    x, y = separable()
    raw = np.clip(x * 70 + 128, 0, 255)  # like 0-255 pixels
    finding = run(mlp(), (raw, y), "input_scale")
    assert finding.status == "fail" and finding.value["max |mean|"] > 100
    assert run(mlp(), (x, y), "input_scale").status == "pass"


def test_initial_loss_fails_large_output_init_and_matches_log_c():
    x, y = separable()
    big = mlp(out_init=keras.initializers.RandomNormal(stddev=10.0))
    assert run(big, (x, y), "initial_loss").status == "fail"
    small = mlp(out_init=keras.initializers.RandomNormal(stddev=1e-3))
    finding = run(small, (x, y), "initial_loss")
    assert finding.status == "pass"
    assert finding.value == pytest.approx(np.log(CLASSES), rel=1e-2)


def test_initial_loss_of_the_svm_is_c_minus_one():
    from components.losses import MulticlassSVM

    x, y = separable()
    small = mlp(out_init=keras.initializers.RandomNormal(stddev=1e-4))
    finding = run(small, (x, y), "initial_loss", loss=MulticlassSVM())
    assert finding.status == "pass" and finding.value == pytest.approx(
        CLASSES - 1, rel=1e-2
    )


def test_activation_scale_fails_a_deep_tanh_net_at_small_init():
    # CS231n's figure: 10 tanh layers of 500 units at 0.01 N(0, 1) vanish.
    x, _ = separable(count=128)
    y = np.zeros(128, "int32")
    small = mlp(10, 500, "tanh", keras.initializers.RandomNormal(stddev=0.01))
    finding = run(small, (x, y), "activation_scale")
    assert finding.status == "fail" and finding.value["ratio"] < 1e-3
    xavier = mlp(10, 500, "tanh", "glorot_normal")
    assert run(xavier, (x, y), "activation_scale").status == "pass"


def test_gradient_flow_fails_zero_kernels():
    x, y = separable()
    zero = mlp(3, 32, "relu", "zeros")
    finding = run(zero, (x, y), "gradient_flow")
    assert finding.status == "fail" and "hidden0" in finding.advice
    assert run(mlp(3), (x, y), "gradient_flow").status == "pass"


def test_saturation_fails_sigmoids_at_large_init():
    x, y = separable()
    large = mlp(2, 64, "sigmoid", keras.initializers.RandomNormal(stddev=5.0))
    assert run(large, (x, y), "saturation").status == "fail"
    assert (
        run(mlp(2, 64, "sigmoid", "glorot_normal"), (x, y), "saturation").status
        == "pass"
    )
    assert run(mlp(), (x, y), "saturation").status == "skip"


def test_dead_units_fails_relus_behind_a_large_negative_bias():
    x, y = separable()
    dead = mlp(2, 32, "relu", "he_normal", bias=keras.initializers.Constant(-10.0))
    finding = run(dead, (x, y), "dead_units")
    assert finding.status == "fail" and finding.value["at init"] == 1.0
    assert run(mlp(), (x, y), "dead_units").status == "pass"


@ops.custom_gradient
def _doubled_gradient(x):
    """The identity, with a gradient twice the true one."""

    def grad(*args, upstream=None):
        return 2.0 * (args[0] if upstream is None else upstream)

    return x, grad


@keras.saving.register_keras_serializable(package="tests")
class Scale(keras.layers.Layer):
    """y = x * w, one weight per feature; `wrong` doubles its input gradient."""

    def __init__(self, wrong=False, **kwargs):
        super().__init__(**kwargs)
        self.wrong = wrong

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return (_doubled_gradient(x) if self.wrong else x) * self.w

    def get_config(self):
        return {**super().get_config(), "wrong": self.wrong}


def with_scale(wrong):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((16,)), Scale(wrong, name="scale"), keras.layers.Dense(CLASSES)]
    )


def test_gradient_check_fails_a_custom_layer_with_a_wrong_gradient():
    x, y = separable()
    finding = run(with_scale(True), (x, y), "gradient_check")
    assert finding.status == "fail" and "scale" in finding.advice
    assert run(with_scale(False), (x, y), "gradient_check").status == "pass"
    assert run(mlp(), (x, y), "gradient_check").status == "skip"  # Keras's own only


def test_overfit_subset_fails_examples_that_cannot_be_told_apart():
    x, y = separable()
    same = np.zeros_like(x)  # identical inputs, different labels: unfittable
    assert run(mlp(), (same, y), "overfit_subset").status == "fail"
    finding = run(mlp(), (x, y), "overfit_subset")
    assert finding.status == "pass" and finding.value["train accuracy"] == 1.0


def test_input_independent_fails_labels_unrelated_to_the_inputs():
    x, y = separable(512)
    noise = np.random.default_rng(1).integers(0, CLASSES, len(y)).astype("int32")
    assert run(mlp(), (x, noise), "input_independent").status == "fail"
    assert run(mlp(), (x, y), "input_independent").status == "pass"


def test_learning_rate_fails_sgd_at_ten():
    x, y = separable(512)
    finding = run(mlp(), (x, y), "learning_rate", optimizer=keras.optimizers.SGD(10.0))
    assert finding.status == "fail" and "ten steps" in finding.rule
    suggested = finding.value["suggested"]
    good = run(
        mlp(), (x, y), "learning_rate", optimizer=keras.optimizers.SGD(suggested)
    )
    assert good.status == "pass"


def test_update_ratio_fails_sgd_at_ten_and_passes_near_one_in_a_thousand():
    x, y = separable(512)
    high = run(mlp(), (x, y), "update_ratio", optimizer=keras.optimizers.SGD(10.0))
    assert high.status == "fail" and high.value["largest step"] > 0.1
    low = run(mlp(), (x, y), "update_ratio", optimizer=keras.optimizers.SGD(0.01))
    assert low.status == "pass" and 1e-4 <= low.value["median"] <= 1e-2


def test_architecture_advises_he_init_for_relu_and_dropout_after_large_layers():
    x, y = separable()
    plain = mlp(4, 600, "relu", "glorot_uniform")
    finding = run(plain, (x, y), "architecture")
    assert finding.status == "warn"
    assert "He init" in finding.advice and "dropout" in finding.advice
    assert "batch normalization" in finding.advice
    keras.utils.set_random_seed(0)
    conv = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", kernel_initializer="he_normal"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(8, 3, padding="same", kernel_initializer="he_normal"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(CLASSES),
        ]
    )
    images = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype("float32")
    assert run(conv, (images, y[:64]), "architecture").status == "pass"


def _digits_mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, kernel_initializer="he_normal", name="hidden"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dense(10, name="scores"),
        ]
    )


def _standardized_digits():
    """scikit-learn's digits, each feature standardized over the whole set;
    the always-blank pixels stay constant at 0."""
    from components.data import digits_arrays

    images, labels = digits_arrays()
    x = images.reshape(len(images), -1).astype("float64")
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return x.astype("float32"), labels.astype("int32")


def _verdicts(x, y, seed=0, checks=None):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    diagnosis = diagnose(
        _digits_mlp(), (x, y), loss=loss, checks=checks, seed=seed, verbose=0
    )
    return {f.check: f.status for f in diagnosis.findings}, diagnosis


def test_standardized_inputs_with_constant_features_pass_input_scale():
    x, y = _standardized_digits()
    assert (x.std(axis=0) == 0).sum() >= 3  # blank border pixels
    finding = _verdicts(x, y, checks=["input_scale"])[1]["input_scale"]
    assert finding.status == "pass", finding
    assert finding.value["constant features"] >= 3
    assert "harmless" in finding.advice
    # A constant feature far from zero is still a mean the rule sees.
    shifted = x.copy()
    shifted[:, 0] = 40.0
    bad = _verdicts(shifted, y, checks=["input_scale"])[1]["input_scale"]
    assert bad.status == "fail" and "feature 0" in bad.rule


def test_the_order_of_the_data_changes_no_verdict():
    # Arrays in class order, the way a folder is read, against the same
    # arrays shuffled: every check draws its samples at random.
    x, y = _standardized_digits()
    order = np.argsort(y, kind="stable")
    shuffled = np.random.default_rng(1).permutation(len(y))
    by_class, sorted_diagnosis = _verdicts(x[order], y[order])
    at_random, _ = _verdicts(x[shuffled], y[shuffled])
    assert by_class == at_random, (by_class, at_random)
    assert "fail" not in by_class.values(), str(sorted_diagnosis)
    assert "class order" in sorted_diagnosis["shuffled"].advice


def test_a_trained_model_is_judged_as_trained_and_fails_no_check():
    x, y = _standardized_digits()
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    model = _digits_mlp()
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x[:1400], y[:1400], epochs=8, batch_size=32, verbose=0)
    accuracy = model.evaluate(x[1400:], y[1400:], verbose=0)[1]
    assert accuracy >= 0.9
    diagnosis = diagnose(model, (x[:1400], y[:1400]), verbose=0)
    assert diagnosis.state["state"] == "trained"
    assert not diagnosis.failed, str(diagnosis)
    for check in ("initial_loss", "activation_scale", "gradient_flow"):
        assert diagnosis[check].status == "info"
    # Told it is fresh, the initial loss is judged, and far below chance fails.
    told = diagnose(
        model, (x[:1400], y[:1400]), checks=["initial_loss"], state="fresh", verbose=0
    )
    assert told["initial_loss"].status == "fail"
    assert "chance value" in told["initial_loss"].rule


def test_the_report_fits_100_columns_and_names_the_rule():
    x, y = separable(512)
    diagnosis = diagnose(
        mlp(),
        (x, y),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.SGD(10.0),
        checks=["learning_rate", "update_ratio", "input_scale"],
        verbose=0,
    )
    text = str(diagnosis)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "None" not in text and "''" not in text
    assert diagnosis["learning_rate"].rule in " ".join(text.split())
    assert "| rule that decided |" in diagnosis.markdown()


def test_every_check_is_tested_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for check in CHECKS:
        assert f'"{check}"' in source, check


def test_the_model_is_left_exactly_as_it_was(tmp_path):
    x, y = separable()
    model = mlp()
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=1, verbose=0)  # optimizer state to keep
    before = [np.array(v) for v in model.variables]
    optimizer = [np.array(v) for v in model.optimizer.variables]
    config = model.get_compile_config()
    diagnosis = diagnose(model, (x, y), verbose=0)
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.variables))
    assert all(
        np.array_equal(a, np.array(b))
        for a, b in zip(optimizer, model.optimizer.variables)
    )
    assert model.get_compile_config() == config
    assert [f.check for f in diagnosis.findings] == list(CHECKS)
    # The report: JSON, markdown and pictures.
    written = diagnosis.save(tmp_path)
    names = {p.split("/")[-1] for p in written}
    assert {
        "diagnosis.json",
        "report.md",
        "activations.png",
        "gradients.png",
        "lr_finder.png",
    } <= names
    saved = json.loads((tmp_path / "diagnosis.json").read_text())
    assert [f["check"] for f in saved["findings"]] == list(CHECKS)
    assert sum(saved["counts"].values()) == len(CHECKS)
    table = str(diagnosis)
    assert all(check in table for check in CHECKS)


def test_uncompiled_model_needs_a_loss_and_checks_are_named():
    x, y = separable()
    with pytest.raises(ValueError, match="needs a loss"):
        diagnose(mlp(), (x, y), verbose=0)
    with pytest.raises(ValueError, match="checks"):
        diagnose(mlp(), (x, y), loss="mse", checks=["nonsense"], verbose=0)
    with pytest.raises(ValueError, match="same length"):
        diagnose(mlp(), (x, y[:10]), loss="mse", verbose=0)


def test_lr_finder_restores_weights_and_optimizer_state():
    x, y = separable()
    model = mlp()
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=1, verbose=0)
    weights = [np.array(w) for w in model.get_weights()]
    state = [np.array(v) for v in model.optimizer.variables]
    sweep = find_learning_rate(model, (x, y), steps=40)
    assert len(sweep.losses) > 10
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert all(
        np.array_equal(a, np.array(b)) for a, b in zip(state, model.optimizer.variables)
    )
    assert float(np.array(model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_lr_finder_burn_in_ignores_an_early_low_loss():
    # The first batch's targets are what the model already predicts (loss 0):
    # without a burn-in the minimum sits at the first, tiniest rate. (Enough
    # batches that the first one does not come round again.)
    x, y = separable(count=32 * 64)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    targets = x @ np.linspace(-1, 1, 16).astype("float32")[:, None]
    targets[:32] = model.predict(x[:32], verbose=0)
    fooled = find_learning_rate(
        model, (x, targets), steps=60, burn_in=0.0, smoothing=0.0
    )
    assert fooled.suggestion == pytest.approx(fooled.rates[0] / 10)
    kept = find_learning_rate(model, (x, targets), steps=60, burn_in=0.1, smoothing=0.0)
    assert kept.suggestion > 1000 * kept.rates[0]


def test_histogram_logger_writes_activations_and_gradients(tmp_path):
    import tensorflow as tf

    x, y = separable(64)
    model = mlp()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = HistogramLogger(str(tmp_path), (x, y))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    assert {
        "activations/hidden0",
        "activations/scores",
        "gradients/hidden0/kernel",
    } <= logger.tags
    # Read the event file back: a histogram per tag and epoch, the gradient's
    # range that of the gradient computed by hand after the last epoch.
    from components.analysis.layer_gradients import variable_gradients

    found = {}
    for path in (tmp_path / "histograms").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value))
    assert [step for step, _ in found["gradients/hidden0/kernel"]] == [0, 1]
    grads = {
        f"{layer}/{v.name}": g
        for layer, v, _, g in variable_gradients(model, model.loss, x, y)
    }
    tensor = tf.make_ndarray(found["gradients/hidden0/kernel"][-1][1].tensor)
    left_edges, right_edges = tensor[:, 0], tensor[:, 1]
    assert left_edges.min() == pytest.approx(
        grads["hidden0/kernel"].min(), rel=1e-4, abs=1e-7
    )
    assert right_edges.max() == pytest.approx(
        grads["hidden0/kernel"].max(), rel=1e-4, abs=1e-7
    )
    assert tensor[:, 2].sum() == pytest.approx(grads["hidden0/kernel"].size)


def test_update_ratios_come_from_real_steps_and_match_a_hand_computation():
    # Plain SGD: the first step moves each kernel by lr * gradient, so its
    # update / weight ratio is lr * |g| / |W|, with g the loss gradient at
    # init (Lightning #272 logged norms after they were zeroed: these are not).
    from components.analysis import variable_gradients
    from components.analysis.doctor.context import Context

    x, y = separable(64)
    model = mlp()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    context = Context(model, (x, y), loss, keras.optimizers.SGD(0.1), seed=0)
    first = {name: ratios[0] for name, ratios in context.short_run()["ratios"].items()}
    size = context.batch_size
    expected = {
        name: 0.1 * np.linalg.norm(g) / np.linalg.norm(w)
        for name, _, w, g in variable_gradients(
            model, loss, context.x[:size], context.y[:size]
        )
        if w.ndim == 2
    }
    assert set(first) == set(expected) == {"hidden0", "hidden1", "scores"}
    for name, ratio in first.items():
        assert ratio > 0 and ratio == pytest.approx(expected[name], rel=1e-3)


def test_lr_finder_on_fewer_examples_than_a_batch_ends():
    x, y = separable(count=10)
    model = mlp()
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    sweep = find_learning_rate(model, (x, y), steps=20, batch_size=32)
    assert 0 < len(sweep.losses) <= 20
    with pytest.raises(ValueError, match="no examples"):
        find_learning_rate(model, (x[:0], y[:0]), steps=20)
