"""AtomicBackup under injected faults: a kill at every step of the write, a
truncated file, damaged backups; resumed runs must end where an uninterrupted
one does."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from components.callbacks import AtomicBackup, BackupError, read_state
from components.callbacks import atomic_backup as module

EPOCHS = 4


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even `except Exception`)."""


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3, seed=2),  # a random state to restore
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def _fit(model, callbacks, epochs=EPOCHS):
    x, y = _data()
    return model.fit(
        x,
        y,
        batch_size=16,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )


def _weights(model):
    return [np.asarray(v) for v in model.weights]


@pytest.fixture(scope="module")
def uninterrupted():
    model = _model()
    _fit(model, [])
    return _weights(model)


def _assert_same(model, expected):
    for a, b in zip(_weights(model), expected):
        np.testing.assert_array_equal(a, b)


def _epochs(path):
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _killing(stage, at_epoch):
    """An `AtomicBackup` whose write of epoch `at_epoch` dies at `stage`."""
    originals = {
        "weights": keras.Model.save_weights,
        "state": json.dump,
        "rename": os.rename,
    }

    class Dying(AtomicBackup):
        def save(self):
            if self._epoch != at_epoch:
                return super().save()
            if stage == "prune":
                super().save()
                raise Killed
            patched = {}
            if stage == "weights":  # half a file, then the kill

                def save_weights(model, path, *args, **kwargs):
                    originals["weights"](model, path, *args, **kwargs)
                    with open(path, "r+b") as f:
                        f.truncate(os.path.getsize(path) // 2)
                    raise Killed

                patched = {"weights": save_weights}
            elif stage == "state":

                def dump(obj, f, *args, **kwargs):
                    f.write(json.dumps(obj)[:20])
                    raise Killed

                patched = {"state": dump}
            elif stage == "rename":

                def rename(*args):
                    raise Killed

                patched = {"rename": rename}
            try:
                if "weights" in patched:
                    keras.Model.save_weights = patched["weights"]
                if "state" in patched:
                    module.json.dump = patched["state"]
                if "rename" in patched:
                    module.os.rename = patched["rename"]
                return super().save()
            finally:
                keras.Model.save_weights = originals["weights"]
                module.json.dump = originals["state"]
                module.os.rename = originals["rename"]

    return Dying


@pytest.mark.parametrize("stage", ["weights", "state", "rename", "prune"])
def test_a_kill_at_any_step_of_the_write_resumes_to_the_uninterrupted_weights(
    stage, tmp_path, uninterrupted
):
    folder, history = str(tmp_path / "backup"), str(tmp_path / "history.csv")

    def callbacks(backup):
        return [backup, keras.callbacks.CSVLogger(history, append=True)]

    dying = _killing(stage, at_epoch=3)(folder, history_path=history)
    with pytest.raises(Killed):
        _fit(_model(), callbacks(dying))
    # What a kill leaves: a complete unit has its final name, or none does.
    for unit in module.backups(folder):
        with open(os.path.join(unit, module.STATE)) as f:
            assert json.load(f)["epoch"] == int(unit[-13:-7])
        assert os.path.getsize(os.path.join(unit, module.WEIGHTS)) > 0

    model = _model()  # a fresh process would build it afresh
    resumed = AtomicBackup(folder, history_path=history)
    _fit(model, callbacks(resumed))
    assert resumed.restored_epoch == (3 if stage == "prune" else 2)
    _assert_same(model, uninterrupted)
    assert _epochs(history) == list(range(EPOCHS))  # every epoch exactly once
    assert not os.path.exists(folder)  # removed once the run completed


def test_a_truncated_latest_backup_falls_back_to_the_one_before(
    tmp_path, uninterrupted
):
    folder = str(tmp_path / "backup")
    backup = AtomicBackup(folder, delete_on_finish=False)
    _fit(_model(), [backup], epochs=3)
    latest, previous = module.backups(folder)
    assert latest.endswith("000003-000000") and previous.endswith("000002-000000")
    weights = os.path.join(latest, module.WEIGHTS)
    with open(weights, "r+b") as f:
        f.truncate(os.path.getsize(weights) // 3)

    model = _model()
    resumed = AtomicBackup(folder)
    with pytest.warns(UserWarning, match="damaged"):
        _fit(model, [resumed])
    assert resumed.restored_epoch == 2
    _assert_same(model, uninterrupted)


def test_with_every_backup_damaged_the_error_names_the_file(tmp_path):
    folder = str(tmp_path / "backup")
    _fit(_model(), [AtomicBackup(folder, keep=1, delete_on_finish=False)], epochs=2)
    (unit,) = module.backups(folder)
    with open(os.path.join(unit, module.STATE), "w") as f:
        f.write("{not json")
    with pytest.raises(BackupError, match="ckpt-000002-000000") as info:
        _fit(_model(), [AtomicBackup(folder)])
    assert "\n" not in str(info.value) and folder in str(info.value)


def test_a_non_finite_epoch_is_never_backed_up(tmp_path):
    folder = str(tmp_path / "backup")
    backup = AtomicBackup(folder, delete_on_finish=False)
    backup.set_model(_model())
    backup.on_train_begin()
    backup.on_epoch_end(0, {"loss": 0.5})
    backup.on_epoch_end(1, {"loss": float("nan")})
    assert read_state(folder)["epoch"] == 1
    assert [row["epoch"] for row in read_state(folder)["history"]] == [0]


def test_flags_and_history_travel_with_the_backup(tmp_path):
    folder = str(tmp_path / "backup")
    flags = {"model": "vgg", "epochs": 2}
    _fit(_model(), [AtomicBackup(folder, flags=flags, delete_on_finish=False)], 2)
    state = read_state(folder)
    assert state["flags"] == flags
    assert [row["epoch"] for row in state["history"]] == [0, 1]
    assert all(np.isfinite(row["loss"]) for row in state["history"])


@pytest.mark.parametrize(
    "kwargs, name",
    [({"backup_dir": ""}, "backup_dir"), ({"backup_dir": "b", "keep": 0}, "keep")],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        AtomicBackup(**kwargs)
