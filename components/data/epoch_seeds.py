"""Shuffle orders that depend on the epoch number only, so resumed runs repeat them."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

# A seed is `seed * EPOCHS_PER_SEED + epoch`: the epoch can be read back.
EPOCHS_PER_SEED = 1_000_000


class EpochSeeds(keras.callbacks.Callback):
    """Seeds each epoch's shuffle from `(seed, epoch)`: a callback and a source.

    `tf.data`'s `reshuffle_each_iteration` draws a new order for every pass
    over the data, counted from the start of the process: a run resumed at
    epoch 3 (`BackupAndRestore`) would shuffle its epoch 3 like an
    uninterrupted run's epoch 0. With this callback in `fit` and the pipeline
    built with `make_pipeline(..., epoch_seeds=...)`, epoch k is shuffled with
    a seed made of `seed` and `k` wherever the run started, so a killed and
    resumed run sees exactly the batches of an uninterrupted one.

    Args:
        seed: Integer. The run's seed.

    Example:

    >>> seeds = EpochSeeds(7)
    >>> seeds.on_epoch_begin(3)
    >>> [int(s) for s in seeds.dataset()]
    [7000003]
    """

    def __init__(self, seed=0):
        super().__init__()
        self.seed = int(seed or 0)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch)

    def current(self):
        return np.int64(self.seed * EPOCHS_PER_SEED + self.epoch)

    @staticmethod
    def epoch_of(epoch_seed):
        """The epoch number inside a seed of `current` (tensor or integer).

        >>> EpochSeeds.epoch_of(7000003)
        3
        """
        return epoch_seed % EPOCHS_PER_SEED

    def dataset(self):
        """A one-element dataset holding the seed of the epoch being started.

        Keras creates a new iterator for every epoch after `on_epoch_begin`;
        the generator runs when the iterator is created, so it reads the
        epoch that is starting.
        """

        def generate():
            yield self.current()

        return tf.data.Dataset.from_generator(
            generate, output_signature=tf.TensorSpec((), tf.int64)
        )
