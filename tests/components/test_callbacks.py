import warnings

import keras
import numpy as np
import pytest

from components.callbacks import (
    ActivationMonitor,
    LearningRateAnnealing,
    MaxNormConstraint,
    MomentumScheduler,
    UpdateRatioMonitor,
    annealing_schedule,
)


def scalar_model(optimizer):
    """w * x with w = 1, loss (w x)^2 on x = 1: gradient 2w."""
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="ones"),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def trajectory(model, callbacks, epochs):
    weights = []
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.append(
            float(np.asarray(model.layers[0].kernel)[0, 0])
        )
    )
    model.fit(
        np.ones((4, 1)),
        np.zeros((4, 1)),
        batch_size=4,
        epochs=epochs,
        verbose=0,
        shuffle=False,
        callbacks=[*callbacks, recorder],
    )
    return weights


# --- MomentumScheduler --------------------------------------------------------


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_schedule_changes_the_updates(nesterov):
    schedule = [0.9, 0.0, 0.5, 0.99]
    model = scalar_model(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov))
    got = trajectory(model, [MomentumScheduler(lambda epoch, m: schedule[epoch])], 4)
    # Keras's SGD by hand (one step per epoch), with the scheduled momentum.
    w, m, expected = 1.0, 0.0, []
    for mu in schedule:
        g = 2 * w
        m = mu * m - 0.1 * g
        w = w + (mu * m - 0.1 * g if nesterov else m)
        expected.append(w)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    constant = trajectory(
        scalar_model(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov)), [], 4
    )
    assert not np.allclose(got, constant)


def test_momentum_scheduler_logs_resets_and_saves(tmp_path):
    model = scalar_model(keras.optimizers.SGD(0.1, momentum=0.9))
    scheduler = MomentumScheduler(lambda epoch, m: 0.9 if epoch == 0 else m / 2)
    history = model.fit(
        np.ones((4, 1)), np.zeros((4, 1)), epochs=3, verbose=0, callbacks=[scheduler]
    )
    np.testing.assert_allclose(
        history.history["momentum"], [0.9, 0.45, 0.225], rtol=1e-6
    )
    # A second fit starts from the schedule again, with the same variable.
    history = model.fit(
        np.ones((4, 1)), np.zeros((4, 1)), epochs=2, verbose=0, callbacks=[scheduler]
    )
    np.testing.assert_allclose(history.history["momentum"], [0.9, 0.45], rtol=1e-6)
    assert model.optimizer.get_config()["momentum"] == pytest.approx(0.45)
    model.save(tmp_path / "m.keras")
    keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)


def test_momentum_scheduler_errors():
    with pytest.raises(ValueError, match="schedule"):
        MomentumScheduler(0.9)
    for bad, match in [
        (lambda e, m: "0.5", "must return a float"),
        (lambda e, m: -0.1, r"\[0, 1\)"),
    ]:
        model = scalar_model(keras.optimizers.SGD(0.1, momentum=0.9))
        with pytest.raises(ValueError, match=match):
            model.fit(
                np.ones((4, 1)),
                np.zeros((4, 1)),
                verbose=0,
                callbacks=[MomentumScheduler(bad)],
            )
    with pytest.raises(ValueError, match="SGD with momentum > 0"):
        scalar_model("adam").fit(
            np.ones((4, 1)),
            np.zeros((4, 1)),
            verbose=0,
            callbacks=[MomentumScheduler(lambda e, m: 0.5)],
        )


def test_momentum_scheduler_refuses_a_backend_that_would_not_apply_it(monkeypatch):
    # Keras's torch SGD multiplies by the Python float: the schedule would be
    # logged, never applied. (The hand computation above runs on TF and JAX.)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ValueError, match="'torch' backend"):
        MomentumScheduler(lambda e, m: 0.5)


# --- LearningRateAnnealing ----------------------------------------------------


@pytest.mark.parametrize(
    "kind, kwargs, rule",
    [
        ("step", {"drop": 0.5, "every": 2}, lambda e: 0.1 * 0.5 ** (e // 2)),
        ("exponential", {"k": 0.3}, lambda e: 0.1 * np.exp(-0.3 * e)),
        ("inverse_time", {"k": 0.5}, lambda e: 0.1 / (1 + 0.5 * e)),
    ],
)
def test_annealing_rules_and_the_rate_actually_used(kind, kwargs, rule):
    model = scalar_model(keras.optimizers.SGD(0.1))
    annealing = LearningRateAnnealing(kind, 0.1, **kwargs)
    got = trajectory(model, [annealing], 5)
    w, expected = 1.0, []
    for epoch in range(5):
        w = w - rule(epoch) * 2 * w
        expected.append(w)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_annealing_errors():
    with pytest.raises(ValueError, match="kind"):
        annealing_schedule("cosine", 0.1)
    with pytest.raises(ValueError, match="drop"):
        annealing_schedule("step", 0.1, drop=1.5)
    with pytest.raises(ValueError, match="initial_learning_rate"):
        annealing_schedule("step", -0.1)


# --- UpdateRatioMonitor -------------------------------------------------------


def dense_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="tanh", name="a"),
            keras.layers.Dense(1, name="b"),
        ]
    )
    return model, x, y


def test_update_ratio_matches_one_sgd_step():
    model, x, y = dense_problem()
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    before = [np.array(v) for v in model.get_weights()]
    # The same first step, taken by a copy of the model.
    copy = keras.models.clone_model(model)
    copy.set_weights(before)
    copy.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    copy.fit(x[:128], y[:128], batch_size=128, epochs=1, verbose=0, shuffle=False)
    after = copy.get_weights()
    moved = np.concatenate([(n - o).ravel() for n, o in zip(after[:2], before[:2])])
    expected = np.linalg.norm(moved) / np.linalg.norm(
        np.concatenate([o.ravel() for o in before[:2]])
    )

    monitor = UpdateRatioMonitor()
    history = model.fit(
        x, y, batch_size=128, epochs=1, verbose=0, shuffle=False, callbacks=[monitor]
    )
    assert monitor.per_layer[0]["a"] == pytest.approx(expected, rel=1e-4)
    assert set(monitor.per_layer[0]) == {"a", "b"}
    logs = history.history
    assert (
        logs["update_ratio_min"][0]
        <= logs["update_ratio_median"][0]
        <= logs["update_ratio_max"][0]
    )


def test_update_ratio_warns_once_with_advice():
    model, x, y = dense_problem()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    with pytest.warns(UserWarning, match="too high") as record:
        model.fit(
            x, y, batch_size=32, epochs=4, verbose=0, callbacks=[UpdateRatioMonitor()]
        )
    assert len([w for w in record if "UpdateRatioMonitor" in str(w.message)]) == 1
    model, x, y = dense_problem()
    model.compile(optimizer=keras.optimizers.SGD(1e-7), loss="mse")
    with pytest.warns(UserWarning, match="too low"):
        model.fit(
            x, y, batch_size=32, epochs=3, verbose=0, callbacks=[UpdateRatioMonitor()]
        )


def test_update_ratio_judges_only_the_first_epochs():
    # An annealed rate lowers the ratio on purpose: no advice after advise_epochs.
    model, x, y = dense_problem()
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    anneal = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: 1e-3 if epoch < 2 else 1e-9
    )
    monitor = UpdateRatioMonitor(patience=1, advise_epochs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            x, y, batch_size=32, epochs=4, verbose=0, callbacks=[anneal, monitor]
        )
    assert not [w for w in caught if "UpdateRatioMonitor" in str(w.message)]
    assert history.history["update_ratio_median"][-1] < 1e-4  # measured, not judged


def test_update_ratio_defines_no_batch_end_hook():
    # Keras dispatches batch hooks asynchronously (on backends that allow it)
    # only when no callback overrides a batch-end hook.
    base = keras.callbacks.Callback
    for hook in ("on_batch_end", "on_train_batch_end"):
        assert getattr(UpdateRatioMonitor, hook) is getattr(base, hook)
    with pytest.raises(ValueError, match="low < high"):
        UpdateRatioMonitor(low=1e-2, high=1e-4)


# --- MaxNormConstraint ----------------------------------------------------------


def test_max_norm_bounds_every_incoming_vector_and_restores():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, name="dense"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 2)).astype("float32")
    y = 30 * np.ones((32, 5), "float32")
    free = keras.models.clone_model(model)
    free.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    free.set_weights(model.get_weights())
    free.fit(x, y, epochs=3, verbose=0)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[MaxNormConstraint(0.8)])
    conv = np.asarray(model.get_layer("conv").kernel)
    dense = np.asarray(model.get_layer("dense").kernel)
    assert np.linalg.norm(conv.reshape(-1, 4), axis=0).max() <= 0.8 + 1e-5
    assert np.linalg.norm(dense, axis=0).max() <= 0.8 + 1e-5
    assert (
        np.linalg.norm(np.asarray(free.get_layer("dense").kernel), axis=0).max() > 0.8
    )
    assert model.get_layer("dense").kernel.constraint is None


@pytest.mark.parametrize("value", [0, -1.0, "1"])
def test_max_norm_bad_value(value):
    with pytest.raises(ValueError, match="max_value"):
        MaxNormConstraint(value)


# --- ActivationMonitor -------------------------------------------------------------


def test_activation_monitor_counts_dead_and_saturated_units():
    inputs = keras.Input((4,))
    dead = keras.layers.Dense(
        6, activation="relu", name="relu", bias_initializer="zeros"
    )
    saturated = keras.layers.Dense(3, activation="tanh", name="tanh")
    outputs = keras.layers.Dense(1)(saturated(dead(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # weights stay put
    kernel = np.ones((4, 6), "float32")
    kernel[:, :2] = -1.0  # two units see only negative input on positive probes: dead
    dead.set_weights([kernel, np.zeros(6, "float32")])
    saturated.set_weights([np.full((6, 3), 10.0, "float32"), np.zeros(3, "float32")])
    probe = (
        np.abs(np.random.default_rng(0).normal(size=(16, 4))).astype("float32") + 0.1
    )
    monitor = ActivationMonitor(probe)
    history = model.fit(
        probe, np.zeros((16, 1)), epochs=1, verbose=0, callbacks=[monitor]
    )
    assert monitor.per_layer[0]["relu"] == pytest.approx(2 / 6)
    assert monitor.per_layer[0]["tanh"] == pytest.approx(1.0)
    assert history.history["dead_relu_fraction"] == [pytest.approx(2 / 6)]


def test_activation_monitor_enters_nested_models():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid", name="sig")],
        name="inner",
    )
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs, keras.layers.Dense(1)(inner(keras.layers.Rescaling(2.0)(inputs)))
    )
    model.compile(optimizer="sgd", loss="mse")
    monitor = ActivationMonitor(np.zeros((4, 4)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            np.zeros((4, 4)), np.zeros((4, 1)), epochs=1, verbose=0, callbacks=[monitor]
        )
    assert not [w for w in caught if "structure" in str(w.message)]  # input structure
    assert monitor.per_layer[0] == {"inner/sig": 0.0}  # sigmoid(0) = 0.5
    with pytest.raises(ValueError, match="probe"):
        ActivationMonitor(np.zeros(0))
