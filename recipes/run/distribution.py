"""Scale-out and fault tolerance shared by the recipes: strategies, backups, logs.

`--strategy` picks a `tf.distribute` strategy (the model is built and compiled
in its scope; Keras's `fit` splits each global batch over the replicas and
shards a dataset across workers); each worker but the chief writes its run
and backup folders apart. Backups themselves are `run.Run.fit`'s
(`components.callbacks.AtomicBackup`).

Kept apart from `lifecycle.py` (the run's lifecycle), `flags.py` (CLI), `reports.py`
(artifacts) and `training.py` (optimizers, schedules, monitors): one concept
per module.
"""

from __future__ import annotations

import os

import keras

from components.checks import invalid_value
from recipes.run.data_parallel import DataParallel

STRATEGIES = ("default", "mirrored", "multiworker", "auto", "data-parallel")


def check_strategy(name):
    if name not in STRATEGIES:
        raise ValueError(
            invalid_value("strategy", name, f"one of {', '.join(STRATEGIES)}")
        )
    if name == "data-parallel":
        if keras.backend.backend() != "jax":
            raise ValueError(
                "--strategy data-parallel is Keras 3's own distribution "
                "(keras.distribution), which runs on JAX: set KERAS_BACKEND=jax; "
                f"this process runs {keras.backend.backend()!r}."
            )
        return
    if name != "default" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND="
            f"tensorflow); this process runs {keras.backend.backend()!r}."
        )
    if name == "multiworker" and "TF_CONFIG" not in os.environ:
        raise ValueError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            "(the cluster and this task); try `python -m recipes.launch`."
        )


_MADE = {}


def make_strategy(name):
    """The `tf.distribute` strategy for `--strategy NAME`.

    `default`: one device, no distribution. `mirrored`: every local GPU, one
    replica each (`MirroredStrategy`). `multiworker`: `MultiWorkerMirrored-
    Strategy`, the cluster read from `TF_CONFIG`. `auto`: mirrored when there
    is more than one GPU, else default.

    Made once per process (a multi-worker strategy must exist before any
    TensorFlow op runs: `flags.parse_config` makes it first, before the
    flags are validated) and returned again on later calls.

    The batch size flags are global batch sizes: each replica gets
    `batch_size / replicas`. Keras losses average over the global batch, so
    gradients are divided by the batch size and, as the notes have it, the
    learning rate need not change with the number of replicas.
    """
    check_strategy(name)
    if name not in _MADE:
        _MADE[name] = _new_strategy(name)
    return _MADE[name]


def _new_strategy(name):
    if name == "data-parallel":
        return DataParallel()
    import tensorflow as tf

    if name == "auto":
        name = (
            "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
        )
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def task(strategy):
    """`(task_type, task_id)` of this process; `(None, None)` on one machine."""
    if isinstance(strategy, DataParallel):
        if strategy.num_processes == 1:
            return None, None
        return "worker", strategy.process_id
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run's artifacts (TensorFlow's convention:
    the `chief` task, or worker 0 when the cluster has no chief)."""
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    if isinstance(strategy, DataParallel):
        return task_id == 0
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in spec


def worker_path(path, strategy):
    """Where this worker writes what belongs under `path` (a run directory;
    backups are the chief's alone, see `lifecycle.Run`).

    The chief writes to `path` itself; every other worker must save too
    (saving runs collective ops) but into `<path>/workers/<id>`, so that only
    the chief's copy is the run's.
    """
    if path is None or is_chief(strategy):
        return path
    _, task_id = task(strategy)
    return os.path.join(path, "workers", str(task_id))


def prepare_fit(model, strategy, dataset):
    """Works around two Keras 3 faults of `fit` over several workers.

    Under `MultiWorkerMirroredStrategy` with more than one worker, Keras 3's
    TensorFlow trainer (keras-team/keras#20585) (1) averages the first
    distributed batch across replicas to build the model's state, which
    fails on the batch's `PerReplica` values, and (2) averages each step's
    scalar logs "along axis 0", which scalars do not have. Here the state is
    built from the dataset's element spec instead (shapes and dtypes are all
    it needs) and scalar logs are averaged as scalars. Nothing changes for
    other strategies, nor for the gradients (TensorFlow's all-reduce).
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    _check_private_keras()
    _patch_scalar_reduction()
    spec = tf.nest.map_structure(
        lambda s: keras.KerasTensor(s.shape, s.dtype.name), dataset.element_spec
    )
    with strategy.scope():
        model._symbolic_build(data_batch=spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    return model


def _patch_scalar_reduction():
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "_keras_notes_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not (
            trainer._collective_all_reduce_multi_worker(strategy)
        ):
            return original(values, strategy, reduction)

        def reduce(value):
            if not trainer._is_per_replica_instance(value):
                return value
            scalar = all(
                part.shape.rank == 0
                for part in strategy.experimental_local_results(value)
            )
            return strategy.reduce("MEAN", value, axis=None if scalar else 0)

        return keras.tree.map_structure(reduce, values)

    reduce_per_replica._keras_notes_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def steps_per_execution(requested):
    """`requested`, or 1 under a multi-worker strategy (the strategy in scope).

    Keras 3's multi-step loop (`steps_per_execution > 1`) fails to run under
    `MultiWorkerMirroredStrategy` with several workers (an unfed placeholder
    in its `while` loop); one step per call works.
    """
    import tensorflow as tf

    if isinstance(
        tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy
    ):
        return 1
    return requested


def synchronize_batch_norm(model, strategy):
    """Batch norm over the global batch when training runs on several replicas.

    Each replica would otherwise normalize with (and average into its moving
    statistics) its own share of the batch, so workers would end with
    different moving means and variances. Returns a function that turns the
    synchronization off again, to call before saving: the flag is a
    TensorFlow-only setting, and a saved model should load on any backend.
    """
    from components.callbacks.model_state import leaf_layers

    norms = [
        layer
        for layer in leaf_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    # Under data-parallel on JAX one program runs over the global batch: its
    # batch statistics are the global batch's already.
    enabled = (
        strategy is not None
        and not isinstance(strategy, DataParallel)
        and strategy.num_replicas_in_sync > 1
    )
    for layer in norms:
        layer.synchronized = enabled

    def restore():
        for layer in norms:
            layer.synchronized = False

    return restore


# The private Keras functions that `prepare_fit` relies on, checked before
# use: a Keras release that renames one fails here with its name, not with
# a wrong result. Tested with Keras 3.15 (tests/recipes/test_distribution.py
# checks them on the installed Keras). Not pinned in pyproject.toml: the
# pin would hold every user to one Keras for one path, which data-parallel
# on JAX serves without private functions.
PRIVATE_KERAS = (
    ("keras.src.backend.tensorflow.trainer", "reduce_per_replica"),
    ("keras.src.backend.tensorflow.trainer", "_collective_all_reduce_multi_worker"),
    ("keras.src.backend.tensorflow.trainer", "_is_per_replica_instance"),
    ("keras.Model", "_symbolic_build"),
    ("keras.Model", "_maybe_symbolic_build"),
)


def missing_private_keras():
    """The `module.name` of each private Keras function `prepare_fit` needs
    that the installed Keras lacks (an empty list when all are there)."""
    import importlib

    missing = []
    for where, name in PRIVATE_KERAS:
        if where == "keras.Model":
            owner = keras.Model
        else:
            try:
                owner = importlib.import_module(where)
            except ImportError:
                missing.append(f"{where}.{name}")
                continue
        if not callable(getattr(owner, name, None)):
            missing.append(f"{where}.{name}")
    return missing


def _check_private_keras():
    missing = missing_private_keras()
    if missing:
        raise RuntimeError(
            "--strategy multiworker works around Keras 3 faults through private "
            f"Keras functions that Keras {keras.__version__} no longer has: "
            f"{', '.join(missing)}. It was tested with Keras 3.15; install "
            "it, or use --strategy data-parallel on JAX."
        )
