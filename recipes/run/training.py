"""Training plumbing shared by the recipes: the flags of the notes' optimizers,
schedules, constraint and monitors, turned into a compiled model and callbacks.

Also the run's seeding. Kept apart from `flags.py` (the command line) and
`reports.py` (what a run leaves) so that each stays one concept.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from components.callbacks import (
    KINDS,
    ActivationMonitor,
    LearningRateAnnealing,
    MaxNormConstraint,
    MomentumScheduler,
    UpdateRatioMonitor,
    annealing_schedule,
)
from components.checks import check_positive_int, check_rate, invalid_value
from components.optimizers import OPTIMIZERS, build_optimizer
from recipes.run.distribution import STRATEGIES, check_strategy, steps_per_execution
from recipes.run.flags import flag

LR_SCHEDULES = ("cosine", "constant", *KINDS)
MONITOR_KEYS = (
    "update_ratio_median",
    "update_ratio_min",
    "update_ratio_max",
    "dead_relu_fraction",
    "saturated_fraction",
)


def seed_everything(seed, deterministic=False):
    """Seeds Python, NumPy and the backend; optionally makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclasses.dataclass
class TrainingConfig:
    """Flags every training recipe shares (a recipe's `Config` extends it)."""

    epochs: int = flag(30, "Training epochs.")
    batch_size: int = flag(64, "Batch size.")
    optimizer: str = flag("adam", f"Update rule: {', '.join(OPTIMIZERS)}.")
    learning_rate: float = flag(1e-3, "Initial learning rate.")
    lr_schedule: str = flag(
        "cosine",
        f"Learning-rate schedule: cosine (per step), constant, {', '.join(KINDS)}.",
    )
    warmup_epochs: float = flag(
        0.0,
        "Epochs over which the learning rate rises linearly from 0 before the "
        "cosine decay (Goyal et al. 2017; Ultralytics' warmup_epochs).",
    )
    lr_drop: float = flag(0.5, "Factor of each step of the 'step' schedule.")
    lr_every: int = flag(10, "Epochs between steps of the 'step' schedule.")
    lr_k: float = flag(0.1, "Decay constant of 'exponential' and 'inverse_time'.")
    momentum: float = flag(0.9, "Momentum of the momentum and nesterov optimizers.")
    momentum_final: float | None = flag(
        None, "Move momentum linearly to this value over the epochs."
    )
    max_norm: float | None = flag(
        None, "Max-norm constraint c on every neuron's weights."
    )
    clipnorm: float | None = flag(None, "Clip each gradient's norm to this value.")
    global_clipnorm: float | None = flag(
        None, "Clip the norm of all gradients together."
    )
    monitors: bool = flag(True, "Log update/weight ratios and dead/saturated units.")
    steps_per_execution: int = flag(8, "Batches per compiled call (see benchmarks).")
    strategy: str = flag(
        "default",
        f"Distribution: {', '.join(STRATEGIES)} (multiworker reads TF_CONFIG).",
    )
    backup_dir: str | None = flag(
        None, "Back up every epoch here; the same command resumes a killed run."
    )
    backup_every: int | None = flag(
        None, "With --backup-dir, also back up every N steps (long epochs)."
    )
    deterministic: bool = flag(False, "Deterministic TensorFlow ops (CPU: repeatable).")
    overwrite: bool = flag(
        False, "Replace the earlier run in --run-dir (else a used one is refused)."
    )

    def validate_training(self):
        check_strategy(self.strategy)
        if self.strategy == "multiworker" and getattr(self, "run_dir", None) is None:
            raise ValueError(
                "--strategy multiworker needs --run-dir: every worker must agree on it."
            )
        for name in ("epochs", "batch_size", "steps_per_execution", "lr_every"):
            check_positive_int(name, getattr(self, name))
        if self.backup_every is not None:
            check_positive_int("backup_every", self.backup_every)
        if not self.learning_rate > 0:
            raise ValueError(
                invalid_value("learning_rate", self.learning_rate, "a float > 0")
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                invalid_value(
                    "lr_schedule", self.lr_schedule, f"one of {', '.join(LR_SCHEDULES)}"
                )
            )
        check_warmup(self.warmup_epochs, self.epochs, self.lr_schedule)
        if self.lr_schedule in KINDS:
            annealing_schedule(
                self.lr_schedule,
                self.learning_rate,
                self.lr_drop,
                self.lr_every,
                self.lr_k,
            )
        build_optimizer(
            self.optimizer,
            self.learning_rate,
            self.momentum,
            self.clipnorm,
            self.global_clipnorm,
        )
        if self.momentum_final is not None:
            if self.optimizer not in ("momentum", "nesterov"):
                raise ValueError(
                    "--momentum-final needs --optimizer momentum or nesterov."
                )
            check_rate("momentum_final", self.momentum_final)
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(invalid_value("max_norm", self.max_norm, "a float > 0"))


def check_warmup(warmup_epochs, epochs, lr_schedule):
    """A warm-up needs the cosine schedule and must end before the run does."""
    if not isinstance(warmup_epochs, (int, float)) or not 0 <= warmup_epochs < epochs:
        raise ValueError(
            invalid_value(
                "warmup_epochs", warmup_epochs, f"a float in [0, epochs={epochs})"
            )
        )
    if warmup_epochs and lr_schedule != "cosine":
        raise ValueError(
            "--warmup-epochs needs --lr-schedule cosine (the warm-up is the start "
            f"of Keras's CosineDecay), not {lr_schedule!r}."
        )


def compile_model(
    config, model, steps_per_epoch, loss, metrics=("accuracy",), scheduled=True
):
    """Compiles `model` with the configured optimizer and learning-rate schedule.

    `cosine` decays per step over the whole run, after `--warmup-epochs` of
    linear rise from 0 (Keras's own `CosineDecay` warm-up); the notes' step,
    exponential and 1/t schedules are applied per epoch by `training_callbacks`.
    With `scheduled=False` the rate is a plain number that a callback sets
    (`TimeBudget`: the run's length is not known in steps).
    """
    rate = config.learning_rate
    if config.lr_schedule == "cosine" and scheduled:
        total = max(1, config.epochs * steps_per_epoch)
        warmup = round(config.warmup_epochs * steps_per_epoch)
        if warmup:
            rate = keras.optimizers.schedules.CosineDecay(
                0.0,
                decay_steps=max(1, total - warmup),
                warmup_target=rate,
                warmup_steps=warmup,
            )
        else:
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=total)
    model.compile(
        optimizer=build_optimizer(
            config.optimizer,
            rate,
            config.momentum,
            config.clipnorm,
            config.global_clipnorm,
        ),
        loss=loss,
        metrics=list(metrics) or None,
        steps_per_execution=steps_per_execution(config.steps_per_execution),
    )
    return model


def training_callbacks(config, probe):
    """The schedules, constraint and monitors that the flags ask for.

    Monitors come first, so that loggers placed after them (CSV, TensorBoard)
    record what they add to the epoch logs.
    """
    callbacks = []
    if config.monitors:
        callbacks += [UpdateRatioMonitor(), ActivationMonitor(probe)]
    if config.lr_schedule in KINDS:
        callbacks.append(
            LearningRateAnnealing(
                config.lr_schedule,
                config.learning_rate,
                config.lr_drop,
                config.lr_every,
                config.lr_k,
            )
        )
    if config.momentum_final is not None:
        start, end = config.momentum, config.momentum_final
        span = max(1, config.epochs - 1)
        callbacks.append(
            MomentumScheduler(lambda epoch, m: start + (end - start) * epoch / span)
        )
    if config.max_norm is not None:
        callbacks.append(MaxNormConstraint(config.max_norm))
    return callbacks


def monitor_summary(history):
    """The last epoch's monitor figures from a `History.history` dict."""
    return {k: float(history[k][-1]) for k in MONITOR_KEYS if history.get(k)}


def plot_monitors(histories, path):
    """Saves the update/weight ratio and dead-unit curves as a PNG, if logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(h.get("update_ratio_median") for h in histories):
        return False
    fig, (ratio, dead) = plt.subplots(1, 2, figsize=(10, 4))
    for index, history in enumerate(histories):
        label = f"model {index + 1}" if len(histories) > 1 else "median over layers"
        epochs = np.arange(1, len(history.get("update_ratio_median", [])) + 1)
        if len(epochs):
            ratio.semilogy(epochs, history["update_ratio_median"], label=label)
            ratio.fill_between(
                epochs,
                history["update_ratio_min"],
                history["update_ratio_max"],
                alpha=0.2,
            )
        for key, style in (("dead_relu_fraction", "-"), ("saturated_fraction", "--")):
            if history.get(key):
                dead.plot(
                    range(1, len(history[key]) + 1), history[key], style, label=key
                )
    ratio.axhline(1e-3, color="gray", linestyle=":", label="notes: ~1e-3")
    ratio.set(
        xlabel="epoch", ylabel="||update|| / ||weights||", title="update / weight ratio"
    )
    dead.set(
        xlabel="epoch", ylabel="fraction", title="dead ReLU units, saturated outputs"
    )
    for panel in (ratio, dead):
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
