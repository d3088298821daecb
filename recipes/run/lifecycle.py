"""The life of one recipe run: start, fit, finish.

Every recipe's `main` is the same three steps around what is particular to
it:

    run = Run.start(Config, argv, "classify", __doc__, quick=QUICK)
    with run.usage_errors():        # bad flags or data: one line, exit 2
        ...load the data, build the model...
    run.open()                      # the run directory, locked; config.json
    history = run.fit(model, train, validation, callbacks=[...])
    return run.finish(metrics, model=model, lines=[...])

`start` parses the flags, applies `--quick`, validates once, seeds, makes
the strategy, and refuses a run directory that is busy, not writable or
holds an earlier run (unless `--overwrite`, or a `--backup-dir` to resume)
and a `--backup-dir` that holds a run with other flags, all before anything
is written. `fit` adds the standard callbacks (atomic backups that resume
exactly, the CSV history, TensorBoard, the flags' schedules and monitors, a
stop at the first non-finite loss) and times training. A diverged run ends
with one line, `metrics.json` saying `"status": "diverged"` and exit status
`EXIT_DIVERGED`. `finish` saves the model and the metrics and prints the
closing report with the files written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import shutil
import signal
import sys
import time

import keras

from components.callbacks import AtomicBackup, BackupError, DivergenceStop, read_state
from components.data.streams import unreadable_file
from recipes.run import distribution, flags, reports, training
from recipes.run.preflight import (
    check_free,
    check_resume,
    check_unused,
    check_writable,
    clear_run,
    lock,
)

EXIT_USAGE = 2
EXIT_DIVERGED = 3


class StepProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, never counting past the epoch's steps.

    With `steps_per_execution` k, Keras reports the last step of each
    k-step call, which for the epoch's last, partial call lies past the
    epoch's end (20 steps at k=8 showed "24/20").
    """

    def on_train_batch_end(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


class Interruption(keras.callbacks.Callback):
    """SIGTERM and Ctrl-C during `fit`: finish the step, back up there, stop.

    Preemptible machines send SIGTERM and wait a grace period; the flag is
    checked after every step Keras reports (not only at epoch ends, where a
    long epoch would outlast the grace period).

    Args:
        backup: `AtomicBackup` or `None`. Where to save the current step.
    """

    def __init__(self, backup=None):
        super().__init__()
        self.backup = backup
        self.signal = self.saved = None
        self.stopped = False
        self.epoch = self.step = 0

    @contextlib.contextmanager
    def catching(self):
        """Turns SIGTERM and SIGINT into the flag inside the block."""
        previous = {}
        try:
            for number in (signal.SIGTERM, signal.SIGINT):
                previous[number] = signal.signal(number, self._handle)
        except ValueError:  # not the main thread: leave the signals alone
            pass
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _handle(self, number, frame):
        self.signal = number

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self.signal is None or self.stopped:
            return
        last = self.epoch + 1 >= (self.params or {}).get("epochs", 0)
        if self.backup is not None and self.backup.at_epoch_end() and last:
            return  # training is done: the run finishes rather than stop
        self.stopped = True
        self.step = self.backup.step if self.backup else int(batch) + 1
        if self.backup is not None and self.backup.at_epoch_end():
            self.saved = self.backup.backup_dir  # the epoch's own backup follows
        elif self.backup is not None:
            self.saved = self.backup.save_and_stop()
        self.model.stop_training = True


# Fewer updates than this rarely train a network from scratch: a small set
# at the default epochs gets a hint (180 images at 10 epochs made 20 steps
# and chance accuracy; 40 epochs, 80 steps: 0.89).
FEW_STEPS = 100


def steps_lines(steps):
    """The closing report's account of training length, with a hint when
    it was short: `["training: 10 epochs x 2 steps = 20 steps (few: ...)"]`."""
    if steps is None:
        return []
    per_epoch, epochs = steps
    line = f"training: {epochs} epochs x {per_epoch} steps = {epochs * per_epoch} steps"
    if epochs * per_epoch < FEW_STEPS:
        enough = -(-FEW_STEPS // per_epoch)
        line += f" (few for a network trained from scratch: consider --epochs {enough})"
    return [line]


class Run:
    """One recipe run. Make it with `Run.start`."""

    def __init__(self, config, parser, name):
        self.config, self.parser, self.name = config, parser, name
        self.strategy = None
        if hasattr(config, "strategy"):
            self.strategy = distribution.make_strategy(config.strategy)
        path = getattr(config, "run_dir", None)
        if path is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = os.path.join("runs", name, stamp)
        self.path = self._worker(path)
        # Every process resumes from the one backup the chief writes (the
        # others still save, saving may run collective ops, but write
        # nothing): with a folder per worker, a worker killed in its own
        # write would resume one backup behind the others, and the run would
        # hang. On several machines, the folder must be shared.
        self.backup_dir = getattr(config, "backup_dir", None)
        self.train_seconds = 0.0
        self.steps = None  # (steps per epoch, epochs) of the last fit
        self._lock = None

    @classmethod
    def start(cls, config_cls, argv, name, doc, quick=None, epilog=None):
        """Parses and checks everything a run needs before it writes anything.

        Args:
            config_cls: The recipe's `Config` dataclass (its fields are the flags).
            argv: List of strings or `None` (the command line).
            name: String. The recipe's name (`python -m recipes.NAME`).
            doc: String. The recipe's docstring; its first line heads `--help`.
            quick: Optional dict. The settings of `--quick`.
            epilog: Optional string. Closes `--help` (exit statuses, say).
        """
        config, parser = flags.parse_config(
            config_cls,
            argv,
            f"python -m recipes.{name}",
            doc.split("\n")[0],
            quick,
            "\n\n".join(e for e in (flags.examples(doc), epilog) if e) or None,
        )
        run = cls(config, parser, name)
        if isinstance(run.strategy, distribution.DataParallel):
            reports.report([run.strategy.describe()])
        training.seed_everything(
            getattr(config, "seed", 0), getattr(config, "deterministic", False)
        )
        with run.usage_errors():
            check_writable(run.path)
            check_free(run.path)
            check_unused(
                run.path,
                getattr(config, "overwrite", False),
                run.backup_dir is not None,
            )
            if run.backup_dir is not None:
                check_resume(run.backup_dir, dataclasses.asdict(config))
        return run

    def _worker(self, path):
        if path is None or self.strategy is None:
            return path
        return distribution.worker_path(path, self.strategy)

    def prepare(self, load, build):
        """`(data, model)`: `load(config)`, then `build(config, data)` in the
        strategy's scope; a `ValueError` from either is a one-line exit 2,
        before the run directory exists."""
        with self.usage_errors():
            data = load(self.config)
            with self.scope():
                return data, build(self.config, data)

    def usage_errors(self):
        """Turns a `ValueError` raised inside the block into a one-line exit 2."""
        return flags.usage_errors(self.parser)

    def scope(self):
        """The strategy's scope (build and compile models in it)."""
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def file(self, name):
        return os.path.join(self.path, name)

    def write_json(self, name, obj):
        reports.atomic_write_json(self.file(name), obj)

    # -- open ------------------------------------------------------------

    def open(self):
        """Creates and locks the run directory and writes `config.json`."""
        with self.usage_errors():
            os.makedirs(self.path, exist_ok=True)
            self._lock = lock(self.path)
            if getattr(self.config, "overwrite", False):
                clear_run(self.path)
        self.write_json("config.json", dataclasses.asdict(self.config))
        return self

    # -- fit -------------------------------------------------------------

    def fit(
        self, model, train, validation=None, *, callbacks=(), probe=None, member=""
    ):
        """`model.fit` with the run's standard callbacks; returns the history.

        Args:
            model: A compiled Keras model.
            train: The training `tf.data.Dataset` (reshuffled by the pipeline).
            validation: Optional validation dataset.
            callbacks: The recipe's own callbacks (such as `EpochSeeds`).
            probe: Optional batch of inputs for the activation monitor.
            member: String. Suffix of the history, logs and backup of one
                model among several (an ensemble member); "" for one model.

        Returns:
            The `History.history` dict of every epoch, also those of a run
            resumed from its backup.
        """
        config = self.config
        suffix = f"_{member}" if member else ""
        history = self.file(f"history{suffix}.csv")
        backup = None
        if self.backup_dir is not None:
            backup = AtomicBackup(
                os.path.join(self.backup_dir, member) if member else self.backup_dir,
                flags=dataclasses.asdict(config),
                history_path=history,
                every=config.backup_every,
                write=distribution.is_chief(self.strategy),
            )
        stop, interruption = DivergenceStop(), Interruption(backup)
        standard = (
            [stop, *callbacks]
            + training.training_callbacks(config, probe)
            # After the monitors (it records their logs), before the CSV log;
            # the interruption after it (it saves at the step just counted).
            + ([backup] if backup else [])
            + [
                interruption,
                keras.callbacks.CSVLogger(history, append=backup is not None),
                keras.callbacks.TensorBoard(self.file(f"logs{suffix}")),
            ]
        )
        if config.verbose == 1:
            standard.append(StepProgbar())
        if self.strategy is not None:
            distribution.prepare_fit(model, self.strategy, train)
        if isinstance(self.strategy, distribution.DataParallel):
            train = self.strategy.feed(train, config.batch_size, whole=True)
            validation = self.strategy.feed(validation, config.batch_size)

        def fit(dataset, epochs):
            model.fit(
                dataset,
                validation_data=validation,
                epochs=epochs,
                callbacks=standard,
                verbose=config.verbose,
                shuffle=False,  # the pipelines reshuffle every epoch themselves
            )
            return not (stop.diverged or interruption.stopped or stopped_early())

        def stopped_early():  # a patience stop (`stopped_epoch`, as EarlyStopping's)
            return any(getattr(c, "stopped_epoch", 0) for c in callbacks)

        # Batch norm over the global batch while training on several
        # replicas; turned off again after, so the saved model loads anywhere.
        unsync = distribution.synchronize_batch_norm(model, self.strategy)
        start = time.perf_counter()
        with (
            self.scope(),
            self._backup_errors(),
            self._file_errors(),
            interruption.catching(),
        ):
            state = read_state(backup.backup_dir) if backup else None
            go_on = True
            if state and state.get("step"):
                # Stopped inside an epoch: its remaining batches first (the
                # epoch's order is fixed by its seed), then the other epochs.
                epoch, step = state["epoch"], state["step"]
                with backup.finishing_epoch(epoch, step):
                    go_on = fit(train.skip(step), epoch + 1)
            if go_on:
                fit(train, config.epochs)
        self.train_seconds += time.perf_counter() - start
        rows = reports.read_history(history)
        if isinstance(self.strategy, distribution.DataParallel):
            self.strategy.localize(model)  # evaluation runs in each process
        if (
            backup is not None
            and backup.write
            and stopped_early()
            and not interruption.stopped
        ):
            # Stopped for good, not interrupted: nothing is left to resume.
            shutil.rmtree(backup.backup_dir, ignore_errors=True)
        per_epoch = int(train.cardinality()) if hasattr(train, "cardinality") else -1
        epochs = len(rows.get("loss", ())) or config.epochs
        self.steps = (per_epoch, epochs) if per_epoch > 0 else None
        unsync()
        if stop.diverged:
            self._diverged(stop)
        if interruption.stopped:
            self._interrupted(interruption)
        return rows

    @contextlib.contextmanager
    def _file_errors(self):
        """An image file that turns out bad mid-run (it passed the header
        check at load): one line naming it and exit 2, not tf.data's
        traceback."""
        try:
            yield
        except Exception as error:
            found = unreadable_file(error)
            if found is None:
                raise
            self.close()
            self.parser.exit(EXIT_USAGE, f"{self.parser.prog}: error: {found}\n")

    @contextlib.contextmanager
    def _backup_errors(self):
        """A backup that cannot be restored: one line and exit 2, no traceback."""
        try:
            yield
        except BackupError as error:
            self.close()
            self.parser.exit(EXIT_USAGE, f"{self.parser.prog}: error: {error}\n")

    def _interrupted(self, interruption):
        name = signal.Signals(interruption.signal).name
        where = f"epoch {interruption.epoch + 1}, step {interruption.step}"
        if interruption.saved:
            advice = (
                f"backed up in {interruption.saved}; run the same command to resume."
            )
        else:
            advice = "nothing was backed up (pass --backup-dir to be able to resume)."
        self.write_json(
            "metrics.json",
            {"status": "interrupted", "signal": name, "backup": interruption.saved},
        )
        print(
            f"{self.parser.prog}: interrupted ({name}) at {where}; {advice}",
            file=sys.stderr,
        )
        self.close()
        raise SystemExit(128 + interruption.signal)

    def _diverged(self, stop):
        self.write_json(
            "metrics.json",
            {
                "status": "diverged",
                "epoch": stop.epoch + 1,
                "step": stop.step + 1,
                "loss": str(stop.loss),
                "last_finite_loss": stop.last_finite_loss,
                "train_seconds": round(self.train_seconds, 2),
            },
        )
        print(f"{self.parser.prog}: {stop.message()}", file=sys.stderr)
        self.close()
        raise SystemExit(EXIT_DIVERGED)

    # -- finish ----------------------------------------------------------

    def finish(self, metrics, model=None, lines=()):
        """Saves `model` and `metrics`, prints `lines` and the files written.

        Returns:
            `metrics` with `status: "completed"`, as written to `metrics.json`.
        """
        if model is not None:
            model.save(self.file("model.keras"))
        metrics = {"status": "completed", **metrics}
        self.write_json("metrics.json", metrics)
        files = sorted(
            name + ("/" if os.path.isdir(self.file(name)) else "")
            for name in os.listdir(self.path)
            if not name.startswith(".")
        )
        reports.report(
            [
                f"run directory: {self.path}",
                *lines,
                *steps_lines(self.steps),
                "files: " + " ".join(files),
            ]
        )
        self.close()
        return metrics

    def close(self):
        """Releases the run directory's lock (also done when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
