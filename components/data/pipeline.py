"""The tf.data input pipeline: shuffle, augment, batch, cache and prefetch.

TensorFlow only (tf.data); the pipelines it makes feed `model.fit` on every
Keras backend.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from components.data.augmentation import build_augmentation

NORMALIZATIONS = ("per_channel", "none")


def _check_batch_size(batch_size):
    if (
        not isinstance(batch_size, int)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(
            "Invalid value received for argument `batch_size`. Expected a positive "
            f"integer. Received: batch_size={batch_size!r}"
        )


def make_pipeline(
    dataset,
    batch_size,
    *,
    training=False,
    augment=None,
    input_shape=None,
    seed=None,
    cache=True,
    shuffle_buffer=None,
):
    """Turns an unbatched `(image, label)` dataset into a batched input pipeline.

    Following the notes ("always shuffle"), a training pipeline is reshuffled
    every epoch; augmentation is applied to training batches only, after
    batching so that Keras's augmentation layers work on whole batches. Decoded
    examples are cached in memory and batches are prefetched, so that the input
    never starves the model. Feeding Keras a `tf.data` pipeline rather than
    NumPy arrays is also faster (see `python -m benchmarks.input_pipeline`).

    Args:
        dataset: `tf.data.Dataset` of unbatched `(image, label)` pairs.
        batch_size: Positive integer.
        training: Boolean. Shuffle every epoch and augment.
        augment: String, list of names or `None`. Augmentations to apply when
            `training` (see `components.data.build_augmentation`).
        input_shape: Tuple. `(height, width, channels)`; needed with `augment`.
        seed: Integer or `None`. Seed of the shuffle and the augmentation.
        cache: Boolean. Cache decoded examples in memory (before shuffling).
        shuffle_buffer: Integer or `None`. Defaults to the whole dataset when
            its size is known, else 10,000.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:

    >>> from components.data import load
    >>> splits = load("digits")
    >>> train = make_pipeline(splits.train, 32, training=True, seed=0)
    >>> images, labels = next(iter(train))
    >>> tuple(images.shape), tuple(labels.shape)
    ((32, 8, 8, 1), (32,))
    """
    _check_batch_size(batch_size)
    if cache:
        dataset = dataset.cache()
    if training:
        if shuffle_buffer is None:
            size = int(dataset.cardinality())
            shuffle_buffer = size if size > 0 else 10_000
        dataset = dataset.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size)
    if training and augment:
        if input_shape is None:
            raise ValueError("`input_shape` is required when `augment` is given.")
        fn = build_augmentation(augment, input_shape, seed=seed)
        if fn is not None:
            # One batch at a time: random draws then happen in a fixed order,
            # so a seeded run is repeatable (parallel calls would race for the
            # random state). Prefetching still overlaps it with training.
            dataset = dataset.map(lambda x, y: (fn(x), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def fit_normalizer(train, mode="per_channel", batch_size=1024):
    """Fits the notes' "zero mean and unit variance" on the training split only.

    Returns an adapted `keras.layers.Normalization` to put at the front of a
    model, so the saved model takes raw images and validation / test data get
    the training statistics, never their own. Statistics are per channel: a
    per-pixel standard deviation is zero on the always-blank borders of digits
    and would blow up any ink that appears there at test time.

    Args:
        train: `tf.data.Dataset` of unbatched `(image, label)` pairs.
        mode: `"per_channel"` or `"none"` (identity layer).
        batch_size: Integer. Batch size used while streaming the statistics.

    Returns:
        A `keras.layers.Normalization` layer (or a `keras.layers.Identity`).

    Example:

    >>> from components.data import load
    >>> norm = fit_normalizer(load("digits").train)
    >>> [round(float(v), 3) for v in np.ravel(norm.get_config()["mean"])]
    [0.306]
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(
            "Invalid value received for argument `normalize`. Expected one of "
            f"{', '.join(NORMALIZATIONS)}. Received: normalize={mode!r}"
        )
    if mode == "none":
        return keras.layers.Identity(name="no_normalization")
    adapted = keras.layers.Normalization(axis=-1)
    adapted.adapt(train.map(lambda x, y: x).batch(batch_size))
    # Statistics as constants in the layer's config: copies of the layer (one
    # per ensemble member) then save and load like any configured layer.
    return keras.layers.Normalization(
        axis=-1,
        mean=np.asarray(adapted.mean).ravel(),
        variance=np.asarray(adapted.variance).ravel(),
        name="normalization",
    )
