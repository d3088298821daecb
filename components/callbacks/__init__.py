"""Training callbacks from the notes: schedules, monitors and constraints.

Keras already has `LearningRateScheduler`, `BackupAndRestore`, `EarlyStopping`,
`TerminateOnNaN` and the `MaxNorm` constraint; these build on them.
"""

from components.callbacks.activation_monitor import ActivationMonitor
from components.callbacks.annealing import (
    KINDS,
    LearningRateAnnealing,
    annealing_schedule,
)
from components.callbacks.atomic_backup import (
    AtomicBackup,
    BackupError,
    read_state,
)
from components.callbacks.divergence import DivergenceStop
from components.callbacks.histograms import HistogramLogger
from components.callbacks.max_norm import MaxNormConstraint
from components.callbacks.momentum import MomentumScheduler, VariableMomentum
from components.callbacks.time_budget import TimeBudget
from components.callbacks.update_ratio import UpdateRatioMonitor
from components.callbacks.weight_averaging import WeightAveraging

__all__ = [
    "KINDS",
    "ActivationMonitor",
    "AtomicBackup",
    "BackupError",
    "DivergenceStop",
    "HistogramLogger",
    "LearningRateAnnealing",
    "MaxNormConstraint",
    "MomentumScheduler",
    "TimeBudget",
    "UpdateRatioMonitor",
    "VariableMomentum",
    "WeightAveraging",
    "annealing_schedule",
    "read_state",
]
