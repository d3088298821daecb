"""Trials in child processes: how a long search keeps its memory bounded.

TensorFlow keeps every traced train function for the life of the process,
even across `keras.backend.clear_session()`: a process that runs trial after
trial grows (about 24 MiB per trial for the small VGG). `tuning.search` runs
its trials in child processes with a quota of trials each; the oracle's files
let the next child go on where the last one stopped. Each trial's peak memory
is logged to `memory.csv` in the project directory.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys

import keras

from recipes.run import reports

CHILD_ENV = "KERAS_NOTES_TRIAL_QUOTA"
PAUSED = 3  # exit status of a child that used up its quota of trials


class QuotaReached(Exception):
    pass


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (Linux: KiB units)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def with_memory_log(cls, quota):
    """`cls` that logs each trial's peak memory and stops after `quota` trials.

    TensorFlow keeps every traced train function for the life of the process,
    even across `keras.backend.clear_session()`: a process that runs trial
    after trial grows (about 24 MiB per trial for the small VGG). Child
    processes with a quota of trials bound that; the oracle's files let the
    next child go on where the last one stopped. `memory.csv` in the project
    directory shows it: one row per trial with the process and its peak memory.
    Each trial's TensorBoard logs go to their own folder on every backend.
    """

    class WithMemoryLog(cls):
        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            if keras.backend.backend() == "tensorflow":
                return super()._configure_tensorboard_dir(callbacks, trial, execution)
            # KerasTuner gives each trial its folder only on TensorFlow (with
            # its HParams plugin, which imports TensorFlow); on JAX every
            # trial wrote into the same one.
            for callback in callbacks:
                if isinstance(callback, keras.callbacks.TensorBoard):
                    callback.log_dir = self._get_tensorboard_dir(
                        callback.log_dir, trial.trial_id, execution
                    )

        def on_trial_end(self, trial):
            super().on_trial_end(trial)  # ends the trial and saves the oracle
            path = os.path.join(self.project_dir, "memory.csv")
            new = not os.path.exists(path)
            with open(path, "a") as log:
                if new:
                    log.write("trial_id,tuner_id,pid,peak_rss_mib\n")
                log.write(
                    f"{trial.trial_id},{self.tuner_id},{os.getpid()},"
                    f"{peak_rss_mib():.1f}\n"
                )
            self.finished_here = getattr(self, "finished_here", 0) + 1
            if quota and self.finished_here >= quota:
                raise QuotaReached

    return WithMemoryLog


def _death_signal_setter():
    """A function for `preexec_fn` that makes the child die with its parent.

    On Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)` asks the kernel to kill the
    child when its parent dies, so a kill -9 of the search stops the running
    trial too (otherwise it would go on writing to the directory while a
    resumed search starts). The function is looked up here, in the parent:
    between fork and exec only the call itself runs. Elsewhere: None.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def run_in_children(argv, verbose):
    """Runs the search in child processes until one reports it complete."""
    processes = 0
    setter = _death_signal_setter()
    while True:
        processes += 1
        if verbose:
            reports.report([f"tuning.search: trial process {processes}"])
        code = subprocess.call(
            [sys.executable, "-m", "tuning.search", *argv],
            preexec_fn=setter,
        )
        if code == 0:
            return processes
        if code != PAUSED:
            raise SystemExit(code)
