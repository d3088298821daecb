"""`--strategy data-parallel`: Keras 3's own distribution engine, on JAX.

Keras 3 supports scaling out through `keras.distribution` on the JAX backend
(keras-team/keras#20585), not through `tf.distribute` strategies. Here a
`keras.distribution.DataParallel` spans every device of every process: the
model's variables are replicated, each global batch is split among the
processes (Keras rebatches and shards the `tf.data` pipeline), and one
compiled program over the global batch all-reduces the gradients, so batch
norm sees the global batch too.

Processes join through `keras.distribution.initialize`, which reads
`KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's `host:port` first),
`KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`;
`python -m recipes.launch` sets them for local processes. On CPUs the
processes all-reduce through gloo (JAX's CPU collectives).
"""

from __future__ import annotations

import contextlib
import os
import sys

import keras
import numpy as np

PROCESSES_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"


class DataParallel:
    """One process's view of a data-parallel run on JAX.

    Made once per process, before any JAX computation (joining the other
    processes must come first). Offers what the recipes use of a
    `tf.distribute` strategy: `scope()`, `num_replicas_in_sync`, and the
    process's place (`process_id`, `num_processes`).
    """

    def __init__(self):
        import jax

        processes = os.environ.get(PROCESSES_VARIABLE, "1")
        if not processes.isdigit() or int(processes) < 1:
            raise ValueError(
                f"{PROCESSES_VARIABLE}={processes!r}: expected a positive integer "
                "(the number of processes of the run)."
            )
        if int(processes) > 1:
            # CPU devices of different processes all-reduce through gloo
            # (without it JAX refuses cross-process collectives on CPU);
            # accelerators keep their own collectives.
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
            keras.distribution.initialize()
            sys.excepthook = _exit_at_once
        self.process_id = jax.process_index()
        self.num_processes = jax.process_count()
        self.devices = jax.devices()
        self.num_replicas_in_sync = len(self.devices)
        # Each process is fed its own part of every batch (`feed`).
        self.distribution = keras.distribution.DataParallel(
            devices=self.devices, auto_shard_dataset=False
        )

    def scope(self):
        """Build, compile and fit in it: the variables are created replicated
        and `fit` splits each batch among the devices."""
        return self.distribution.scope()

    @contextlib.contextmanager
    def undistributed(self):
        """Inputs stay whole in this process (not split among processes):
        for predictions every process makes on the same images while
        training (validation scoring). The variables are replicated, so the
        outputs are too, and each process can read them."""
        current = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(current)

    def feed(self, dataset, batch_size, whole=False):
        """This process's part of every batch of `dataset` (batched by
        `batch_size`): rows `[i * b, (i + 1) * b)` of each, for process `i`
        and `b = batch_size / processes`, as `data.WorkerShare` decodes them.

        Keras's own sharding (`auto_shard_dataset`) does the same but loses
        the number of batches, and `fit` then reports steps past an epoch's
        end (with `steps_per_execution`); a resumed run would skip too many.
        A partial batch cannot be split evenly: it is left out (`whole`: the
        batches are known to be whole already).
        """
        if dataset is None or self.num_processes < 2:
            return dataset
        import tensorflow as tf

        batches = int(dataset.cardinality())
        rows = tf.nest.flatten(dataset.element_spec)[0].shape[:1]
        if whole and rows != [batch_size]:
            # A recipe's bug, not a user's: every process would wait for ever.
            raise ValueError(
                f"Invalid value received for argument `dataset`: training batches "
                f"of {batch_size} rows each, batched with drop_remainder=True "
                f"(--strategy data-parallel splits every batch among "
                f"{self.num_processes} processes); received batches of "
                f"{rows[0] if rows else 'no'} rows."
            )
        if not whole:
            dataset = dataset.unbatch().batch(batch_size, drop_remainder=True)
            batches = -1
        part = dataset.rebatch(batch_size // self.num_processes).shard(
            self.num_processes, self.process_id
        )
        if batches >= 0:
            part = part.apply(tf.data.experimental.assert_cardinality(batches))
        return part.prefetch(tf.data.AUTOTUNE)

    def describe(self):
        """One line for the run's report."""
        local = len(self.devices) // self.num_processes
        line = (
            f"data-parallel (keras.distribution on JAX): {self.num_processes} "
            f"process{'es' * (self.num_processes != 1)} x {local} "
            f"device{'s' * (local != 1)}, this is process {self.process_id}"
        )
        if self.num_processes > 1:
            line += (
                "; each epoch's last, partial batch is left out of training and "
                "of the validation figures (every process needs an equal share of "
                "every batch); the test figures count every image"
            )
        return line

    def localize(self, model):
        """Makes `model`'s variables ordinary arrays of this process again.

        Trained under the distribution, the variables are global arrays over
        every process's devices; `predict` could not fetch its outputs
        (sharded over processes) and would split its inputs among processes.
        Every variable is replicated, so this process holds its whole value.
        """
        for variable in _state_variables(model):
            value = np.asarray(variable.value)
            # The layout fixes where an assigned value is placed; without it
            # the value stays a local array (Keras's JAX variables, 3.10-3.15).
            variable._layout = None
            variable.assign(value)
        return model


def _exit_at_once(kind, error, trace):
    """An error of one process ends it at once. A normal exit would first
    wait at JAX's shutdown barrier for the others, which wait in the next
    collective for this one: minutes, until the barrier's timeout, before
    `recipes.launch` could see the failure and stop the rest."""
    sys.__excepthook__(kind, error, trace)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _state_variables(model):
    optimizer = getattr(model, "optimizer", None)
    found = list(model.variables)
    if optimizer is not None:
        found += list(optimizer.variables)
    found += list(model.metrics_variables)
    unique = {id(v): v for v in found}
    return list(unique.values())
