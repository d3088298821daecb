"""Backups that are written whole or not at all, and resume a run exactly."""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import math
import os
import shutil
import tempfile
import warnings

import keras
import numpy as np

from components.checks import invalid_value

PREFIX = "ckpt-"
STATE = "state.json"
WEIGHTS = "model.weights.h5"


class BackupError(RuntimeError):
    """No backup in the folder can be restored."""


class AtomicBackup(keras.callbacks.Callback):
    """Backs up training every epoch as one unit, written aside then renamed.

    Keras's `BackupAndRestore` writes the weights file in place and its epoch
    metadata beside it: a kill during or between the two writes leaves a
    broken file, or the weights of one epoch paired with the epoch count of
    another. Here each backup is a folder `ckpt-NNNNNN` holding the weights
    (with the optimizer's state), and `state.json` with the epoch, the state
    of the model's random generators (which Keras's weight files leave out),
    the epoch logs so far and the run's `flags`. It is written under a
    temporary name and renamed into place when complete, so a folder with the
    final name is always whole; the last `keep` are kept, as TensorFlow's
    `CheckpointManager` does. On `fit`, the newest backup is restored (a
    damaged one is skipped with a warning for the one before), and with
    `history_path` the CSV history is rebuilt from it, so a resumed run's
    history holds every epoch exactly once, however the kill fell.

    With `every` N, a backup is also written every N steps, and
    `save_and_stop()` writes one at the current step (on SIGTERM, say): its
    state holds the step, so a caller can resume the epoch at the next batch
    (`restored_step`; `recipes.run.Run.fit` does, exactly). An epoch whose
    loss is not finite is never backed up. The folder is removed when `fit`
    has run all its epochs, kept when it stopped early.

    Place it first among the callbacks (before a `CSVLogger(append=True)`
    writing to `history_path`).

    Args:
        backup_dir: String. The folder of the backups (one run's only).
        flags: Optional JSON-serializable dict stored with each backup (a
            recipe stores its flags, to refuse a resume with other ones).
        keep: Integer >= 1. Backups kept.
        history_path: Optional string. A CSV history (as `CSVLogger` writes
            it) rebuilt from the backup on resume.
        delete_on_finish: Boolean. Remove the folder after a complete `fit`.
        every: Optional integer. Also back up every `every` steps.
        write: Boolean. `False` for a process that only restores: of several
            processes training one replicated model, one writes (and
            removes) the backups and all resume from them.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.ones((8, 3)), np.zeros((8, 1))
    >>> class Stop(keras.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if epoch == 1:
    ...             raise KeyboardInterrupt  # a kill after two epochs
    >>> backup = AtomicBackup(folder, delete_on_finish=False)
    >>> try:
    ...     model.fit(x, y, epochs=4, verbose=0, callbacks=[backup, Stop()])
    ... except KeyboardInterrupt:
    ...     pass
    >>> read_state(folder)["epoch"]
    2
    >>> len(model.fit(x, y, epochs=4, verbose=0, callbacks=[backup]).epoch)
    2
    """

    def __init__(
        self,
        backup_dir,
        flags=None,
        keep=2,
        history_path=None,
        delete_on_finish=True,
        every=None,
        write=True,
    ):
        super().__init__()
        if not backup_dir or not isinstance(backup_dir, (str, os.PathLike)):
            raise ValueError(invalid_value("backup_dir", backup_dir, "a folder path"))
        for name, value in (("keep", keep), ("every", every or 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(invalid_value(name, value, "an integer >= 1"))
        self.backup_dir = os.fspath(backup_dir)
        self.flags = dict(flags or {})
        self.keep = keep
        self.history_path = history_path
        self.delete_on_finish = delete_on_finish
        self.every = every
        self.write = bool(write)
        self.state = None  # what `restore` found
        self.expect = None  # (epoch, step) the caller resumes at, if it skipped
        self._restored_here = False  # `restore` ran before this fit
        self._rows, self._epoch, self._step, self._saved_step = [], 0, 0, 0
        self._frozen = self._completed = False

    # -- restore ---------------------------------------------------------

    @property
    def restored_epoch(self):
        """Epochs finished in the restored backup (0 when none was)."""
        return int(self.state["epoch"]) if self.state else 0

    @property
    def restored_step(self):
        """Steps of the next epoch already run in the restored backup."""
        return int(self.state.get("step", 0)) if self.state else 0

    def restore(self):
        """Loads the newest readable backup into the model; returns its state.

        `fit` calls it; call it first (after `set_model`) to know where the
        run resumes, for instance to skip the batches of a partial epoch.
        """
        if self.write:
            for folder in _stale(self.backup_dir):
                shutil.rmtree(folder, ignore_errors=True)
        units = backups(self.backup_dir)
        self.state = None
        for index, unit in enumerate(units):
            try:
                self.state = self._load(unit)
                break
            except (OSError, ValueError, KeyError, TypeError) as error:
                if index + 1 == len(units):
                    raise BackupError(
                        f"Cannot restore the backup {unit} "
                        f"({type(error).__name__}: {str(error).splitlines()[0]}); "
                        f"no older backup is left. Remove {self.backup_dir} to "
                        "start afresh."
                    ) from None
                warnings.warn(
                    f"The backup {unit} is damaged ({type(error).__name__}); "
                    f"restoring the one before it, {units[index + 1]}.",
                    stacklevel=2,
                )
                if self.write:
                    # Moved aside, so that no later resume trips on it again.
                    head, name = os.path.split(unit)
                    os.replace(unit, os.path.join(head, f"damaged-{name}"))
        self._restored_here = True
        return self.state

    def on_train_begin(self, logs=None):
        if not self._restored_here:
            self.restore()
            if self.restored_step:
                warnings.warn(
                    f"The backup stopped {self.restored_step} steps into epoch "
                    f"{self.restored_epoch + 1}; this fit repeats that epoch from its "
                    "first batch. For an exact resume, call `restore()` first and "
                    "skip `restored_step` batches of that epoch (as recipes.run does).",
                    stacklevel=2,
                )
        self._restored_here = self._frozen = self._completed = False
        found = (self.restored_epoch, self.restored_step)
        if self.expect is not None and tuple(self.expect) != found:
            raise BackupError(
                f"The newest backup in {self.backup_dir} was damaged (moved aside); "
                f"the one before it stopped elsewhere (epoch {found[0]}, step "
                f"{found[1]}). Run the same command again to resume from it."
            )
        self._rows = list(self.state["history"]) if self.state else []
        self.model._initial_epoch = self.restored_epoch or None
        if self.history_path is not None:
            write_history(self.history_path, self._rows)

    def _load(self, unit):
        with open(os.path.join(unit, STATE)) as f:
            state = json.load(f)
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(unit, WEIGHTS))
        variables = _rng_variables(self.model)
        if len(state["rng"]) != len(variables):
            raise ValueError(
                f"{len(state['rng'])} random states for {len(variables)} generators"
            )
        for variable, value in zip(variables, state["rng"]):
            variable.assign(np.asarray(value, variable.dtype))
        return state

    # -- save ------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        resumed = epoch == self.restored_epoch and self.restored_step
        self._step = self._saved_step = self.restored_step if resumed else 0

    def on_train_batch_end(self, batch, logs=None):
        self._step = self.restored_offset() + int(batch) + 1
        if (
            self.every
            and self._step - self._saved_step >= self.every
            and not self.at_epoch_end()
        ):
            self.save()

    def at_epoch_end(self):
        """Whether the steps run so far are the whole epoch (its save follows)."""
        steps = (self.params or {}).get("steps")
        return bool(steps) and self._step >= steps + self.restored_offset()

    def restored_offset(self):
        return self.restored_step if self._epoch == self.restored_epoch else 0

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        loss = logs.get("loss")
        if self._frozen or (loss is not None and not math.isfinite(float(loss))):
            return
        self._epoch, self._step = epoch + 1, 0
        self._rows.append({"epoch": epoch, **{k: _number(v) for k, v in logs.items()}})
        if self.params and self._epoch >= self.params.get("epochs", math.inf):
            self._completed = True
        self.save()

    @property
    def step(self):
        """Steps of the current epoch run so far (counting a resumed part)."""
        return self._step

    @contextlib.contextmanager
    def finishing_epoch(self, epoch, step):
        """For a `fit` of the rest of an epoch a backup stopped inside.

        The caller skips the `step` batches already run; the restored backup
        must be that one (a damaged newest one would resume elsewhere:
        `BackupError`), and the folder is kept at the end of this `fit`, whose
        last epoch is not the run's.
        """
        self.expect, self.delete_on_finish = (epoch, step), False
        try:
            yield self
        finally:
            self.expect, self.delete_on_finish = None, True

    def save_and_stop(self):
        """Backs up at the current step and stops `fit` (nothing more is saved).

        For an interruption (SIGTERM, Ctrl-C) in the middle of an epoch: the
        resumed run starts that epoch at the next step.
        """
        folder = self.save()
        self._frozen = True
        self.model.stop_training = True
        return folder

    def save(self):
        """Writes the current state as a new backup; returns its folder."""
        name = f"{PREFIX}{self._epoch:06d}-{self._step:06d}"
        final = os.path.join(self.backup_dir, name)
        if not self.write:
            # Another process writes this state. Saving still runs here: on
            # JAX across processes, reading the variables is a collective step
            # that every process must take (measured: one process saving
            # alone failed the other's next step).
            scratch = tempfile.mkdtemp(prefix="backup-")
            try:
                self.model.save_weights(os.path.join(scratch, WEIGHTS))
                [np.asarray(v) for v in _rng_variables(self.model)]
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            self._saved_step = self._step
            return final
        os.makedirs(self.backup_dir, exist_ok=True)
        tmp = os.path.join(self.backup_dir, f".tmp-{name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.model.save_weights(os.path.join(tmp, WEIGHTS))
        state = {
            "epoch": self._epoch,
            "step": self._step,
            "rng": [np.asarray(v).tolist() for v in _rng_variables(self.model)],
            "history": self._rows,
            "flags": self.flags,
        }
        with open(os.path.join(tmp, STATE), "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        _fsync(os.path.join(tmp, WEIGHTS))
        if os.path.exists(final):  # the same step again (a rerun of it)
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync(self.backup_dir)
        self._saved_step = self._step
        for old in backups(self.backup_dir)[self.keep :]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def on_train_end(self, logs=None):
        done = self.delete_on_finish and self._completed and not self._frozen
        if self.write and done:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def backups(backup_dir):
    """The complete backups in `backup_dir`, newest first."""
    return sorted(glob.glob(os.path.join(glob.escape(backup_dir), PREFIX + "*")))[::-1]


def read_state(backup_dir):
    """The `state.json` of the newest readable backup, or `None` if there is none."""
    for unit in backups(backup_dir):
        try:
            with open(os.path.join(unit, STATE)) as f:
                return json.load(f)
        except (OSError, ValueError):
            continue
    return None


def write_history(path, rows):
    """Writes epoch rows as `CSVLogger` does (`epoch`, then sorted keys)."""
    if not rows:
        if os.path.exists(path):
            os.remove(path)
        return
    keys = sorted({k for row in rows for k in row if k != "epoch"})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for row in rows:
            writer.writerow([row["epoch"], *(row.get(k, "NA") for k in keys)])


def _rng_variables(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _stale(backup_dir):
    return glob.glob(os.path.join(glob.escape(backup_dir), ".tmp-" + PREFIX + "*"))


def _number(value):
    value = np.asarray(value)
    return value.item() if value.size == 1 else value.tolist()


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
