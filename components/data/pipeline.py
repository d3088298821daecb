"""The tf.data input pipeline: shuffle, augment, batch, cache and prefetch.

TensorFlow only (tf.data); the pipelines it makes feed `model.fit` on every
Keras backend.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from components.checks import invalid_value
from components.data.augmentation import build_augmentation
from components.data.streams import Stream

NORMALIZATIONS = ("per_channel", "none")


def _check_batch_size(batch_size):
    if (
        not isinstance(batch_size, int)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(invalid_value("batch_size", batch_size, "a positive integer"))


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
    epoch_seeds=None,
    share=None,
):
    """Turns an unbatched `(image, label)` dataset into a batched input pipeline.

    Following the notes ("always shuffle"), a training pipeline is reshuffled
    every epoch; augmentation is applied to training batches only, after
    batching so that Keras's augmentation layers work on whole batches. Decoded
    examples are cached in memory and batches are prefetched, so that the input
    never starves the model. Feeding Keras a `tf.data` pipeline rather than
    NumPy arrays is also faster (see `python -m benchmarks.input_pipeline`).

    Args:
        dataset: `tf.data.Dataset` of unbatched `(image, label)` pairs, or a
            `Stream` (`splits.stream("train")`): a file source's index is
            shuffled and its files decoded in parallel after, never cached.
        batch_size: Positive integer.
        training: Boolean. Shuffle every epoch and augment.
        augment: String, list of names or `None`. Augmentations to apply when
            `training` (see `components.data.build_augmentation`).
        input_shape: Tuple. `(height, width, channels)`; needed with `augment`.
        seed: Integer or `None`. Seed of the shuffle and the augmentation.
        cache: Boolean. Cache an in-memory dataset's examples (before
            shuffling); a `Stream` decides for itself (`--cache`).
        shuffle_buffer: Integer or `None`. Defaults to the whole dataset when
            its size is known, else 10,000; with `epoch_seeds`, `None` is a
            full permutation.
        epoch_seeds: `EpochSeeds` or `None`. Shuffle epoch k with a seed made
            of the run's seed and k (pass the same object to `fit`'s
            callbacks), so that a resumed run repeats an uninterrupted one.
        share: `WorkerShare` or `None` (`worker_share(strategy, batch_size)`).
            Under a multi-worker strategy, a `Stream` of files decodes only
            the rows of each batch that this worker trains on.

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
    stream_buffer = None
    if isinstance(dataset, Stream) and dataset.decode is None:
        stream_buffer = dataset.shuffle_buffer
        shuffle_buffer = shuffle_buffer or stream_buffer
        dataset = dataset.index
        # A source read from disk once (TFDS) is not held in memory.
        cache = cache and stream_buffer is None
    if isinstance(dataset, Stream):
        # Files: shuffle the index, then read and decode in parallel.
        stream = dataset
        if training and epoch_seeds is not None:
            dataset = shuffle_by_epoch(stream, epoch_seeds, share=share)
        elif training:
            order = stream.index.shuffle(int(stream.index.cardinality()), seed=seed)
            dataset = decode_share(order, stream.decode, share)
        else:
            dataset = decode_share(stream.index, stream.decode, share)
    else:
        if cache:
            dataset = dataset.cache()
        if training:
            if shuffle_buffer is None:
                size = int(dataset.cardinality())
                shuffle_buffer = size if size > 0 else 10_000
            if epoch_seeds is None:
                dataset = dataset.shuffle(
                    shuffle_buffer, seed=seed, reshuffle_each_iteration=True
                )
            else:
                dataset = shuffle_by_epoch(dataset, epoch_seeds, buffer=stream_buffer)
    dataset = dataset.batch(
        batch_size, drop_remainder=share is not None and share.whole_batches
    )
    if training and augment:
        if input_shape is None:
            raise ValueError("`input_shape` is required when `augment` is given.")
        fn = build_augmentation(augment, input_shape, seed=seed)
        if fn is not None:
            # One batch at a time: random draws then happen in a fixed order,
            # so a seeded run is repeatable (parallel calls would race for the
            # random state). Prefetching still overlaps it with training.
            dataset = dataset.map(lambda x, y: (fn(x), y))
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


@dataclasses.dataclass(frozen=True)
class WorkerShare:
    """The rows of every global batch that one worker of several trains on.

    Under `MultiWorkerMirroredStrategy` every worker builds the same pipeline
    (the same epoch order, from the same seed) and tf.data's DATA sharding
    splits each global batch of `batch_size` rows into `replicas` runs of
    `batch_size // replicas` consecutive rows (an epoch's last, partial batch
    into runs of its size / `replicas`, rounded up), of which worker `index`
    keeps runs `index`, `index + workers`, ... (measured with two and three
    workers on tf.distribute's DATA sharding). The rows it does not keep are never
    seen by its model: a file source decodes only its own (the others are
    zeros, dropped by the sharding), so each worker reads its share of the
    files, while the global batches stay exactly those of one process.

    Args:
        batch_size: Integer. The global batch size.
        workers: Integer. Number of workers.
        index: Integer. This worker's place among them (tf.distribute's
            input pipeline id: the chief first).
        replicas: Integer. Replicas in sync over all workers.
        whole_batches: Boolean. Leave out each epoch's last, partial batch
            (Keras's data-parallel distribution on JAX cannot split one
            evenly among processes; under `MultiWorkerMirroredStrategy` one
            smaller than the replicas leaves a replica without rows, which
            breaks synchronized batch norm). `worker_share` sets it.
    """

    batch_size: int
    workers: int
    index: int
    replicas: int
    whole_batches: bool = False

    def __post_init__(self):
        if self.batch_size % self.replicas:
            raise ValueError(
                invalid_value(
                    "batch_size",
                    self.batch_size,
                    f"a multiple of the {self.replicas} replicas in sync "
                    "(the global batch is split evenly among them)",
                )
            )

    def owns(self, position, size):
        """Whether the element at `position` of an epoch of `size` elements
        is this worker's (int64 tensors)."""
        offset = position % self.batch_size
        in_batch = tf.minimum(
            tf.constant(self.batch_size, tf.int64), size - (position - offset)
        )
        rows = (in_batch + self.replicas - 1) // self.replicas
        return tf.equal((offset // rows) % self.workers, self.index)


def worker_share(strategy, batch_size):
    """This worker's `WorkerShare` under a multi-worker `strategy`, else `None`.

    Args:
        strategy: A `tf.distribute.Strategy`, the recipes' data-parallel
            strategy on JAX (its `num_processes` and `process_id`) or `None`.
        batch_size: Integer. The global batch size.

    Example:

    >>> worker_share(tf.distribute.get_strategy(), 32) is None  # one process
    True
    """
    processes = getattr(strategy, "num_processes", None)
    if processes is not None:
        # Keras's data-parallel distribution (JAX) splits each global batch
        # into one run of consecutive rows per process, and needs every
        # batch whole to split it evenly.
        if processes < 2:
            return None
        return WorkerShare(
            batch_size, processes, strategy.process_id, processes, whole_batches=True
        )
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None
    cluster = resolver.cluster_spec().as_dict()
    chiefs = len(cluster.get("chief", ()))
    workers = chiefs + len(cluster.get("worker", ()))
    if workers < 2:
        return None
    index = resolver.task_id + (chiefs if resolver.task_type == "worker" else 0)
    # Whole batches here too: a partial last batch smaller than the replicas
    # leaves one without rows, and synchronized batch norm's collective then
    # fails on mismatched shapes (measured: 1 row over 2 workers).
    return WorkerShare(
        batch_size,
        workers,
        index,
        strategy.num_replicas_in_sync,
        whole_batches=True,
    )


def decode_share(index, decode, share=None, size=None):
    """`index` decoded in parallel; with a `WorkerShare`, only this worker's
    rows (the others are zeros of the same shape, which the multi-worker
    sharding drops). A decoder whose output shape is not fixed, or an index
    of unknown size, decodes all."""
    if decode is None:
        return index
    size = int(index.cardinality()) if size is None else size
    if share is not None and size >= 0:
        spec = index.map(decode).element_spec
        fixed = all(s.shape.is_fully_defined() for s in tf.nest.flatten(spec))
        if fixed:

            def blank():
                return tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), spec)

            def read(position, element):
                args = element if isinstance(element, tuple) else (element,)
                mine = share.owns(position, tf.constant(size, tf.int64))
                return tf.cond(mine, lambda: decode(*args), blank)

            return index.enumerate().map(read, num_parallel_calls=tf.data.AUTOTUNE)
    return index.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def distribution_options():
    """`tf.data.Options` that shard a pipeline by element across workers.

    Under `MultiWorkerMirroredStrategy`, tf.data's default (AUTO) tries to
    shard by file and fails on in-memory data; DATA sharding has each worker
    keep every n-th batch. On one worker it changes nothing.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return options


def pipeline_options():
    """The `tf.data.Options` of every pipeline the project hands to Keras.

    `distribution_options()`, with tf.data's autotuning model off. The
    model's thread wakes 10 ms after an iterator starts, then after 20 ms,
    40 ms, ... (at 10 ms x (2^k - 1)), and under `fit` the end of an epoch
    often waited for its next wake-up: a 1.5 s pass of 16 steps took
    2.55 s, an epoch of 22 s took 41 s. Without it the classify recipe's
    VGG trained at 588 images/s instead of 401 (`python -m
    benchmarks.throughput --paths project project-autotune`,
    docs/speed.md). `AUTOTUNE` still means something without the model:
    a parallel `map` runs on every core (at most 16), and `prefetch`
    grows its buffer whenever the consumer had to wait.

    Example:

    >>> import tensorflow as tf
    >>> dataset = tf.data.Dataset.range(4).with_options(pipeline_options())
    >>> dataset.options().autotune.enabled
    False
    """
    options = distribution_options()
    options.autotune.enabled = False
    return options


def shuffle_by_epoch(dataset, epoch_seeds, map_with_seed=None, buffer=None, share=None):
    """Each epoch, the whole dataset in an order drawn from the epoch's seed.

    A full permutation (as a shuffle buffer of the whole dataset would give),
    drawn with stateless random ops from `(seed, epoch)`: the same epoch gets
    the same order in any process, on any worker. Elements may be tuples or
    dicts of tensors; the dataset is held in memory as one batch. A `Stream`
    of files holds only its index so: its files are decoded, in parallel,
    after the permutation. A source with no random access (a `Stream` with
    a `shuffle_buffer`, or `buffer`) is permuted block by block instead
    (blocks of `buffer` consecutive elements, each in an order drawn from
    the epoch and the block): the same order for the same epoch, in bounded
    memory.

    Args:
        dataset: Unbatched `tf.data.Dataset` of known size, or a `Stream`.
        epoch_seeds: `EpochSeeds`, also passed to `fit`'s callbacks.
        map_with_seed: Optional `fn(element, seed)` applied to each element
            after the shuffle, with `seed` a stateless-op seed made of the
            epoch's seed and the element's position: per-epoch random work
            (such as sampling regions) that a resumed run repeats.
        buffer: Integer or `None`. Permute blocks of this size.
        share: `WorkerShare` or `None`: a `Stream` of files decodes only this
            worker's rows (see `WorkerShare`).

    Returns:
        The shuffled, unbatched dataset.

    Example:

    >>> from components.data import EpochSeeds
    >>> seeds = EpochSeeds(0)
    >>> ds = shuffle_by_epoch(tf.data.Dataset.range(5), seeds)
    >>> first = [int(v) for v in ds]
    >>> sorted(first), first == [int(v) for v in ds]  # same epoch, same order
    ([0, 1, 2, 3, 4], True)
    """
    decode = None
    if isinstance(dataset, Stream):
        decode, buffer = dataset.decode, buffer or dataset.shuffle_buffer
        dataset = dataset.index
    size = int(dataset.cardinality())
    if size < 0:
        raise ValueError(
            "`epoch_seeds` needs a dataset of known size (tf.data cardinality); "
            "apply `tf.data.experimental.assert_cardinality(n)` first."
        )
    whole = dataset.batch(size) if buffer is None else None

    def permute(epoch_seed):
        if buffer is not None:
            # Blocks of `buffer` consecutive elements, each permuted from the
            # epoch's seed and its position (tf.data's shuffle takes no seed
            # tensor): bounded memory, the same order for the same epoch.
            def shuffle_block(position, block):
                count = tf.shape(tf.nest.flatten(block)[0])[0]
                keys = tf.random.stateless_uniform(
                    [count], seed=tf.stack([epoch_seed, position])
                )
                order = tf.argsort(keys)
                return tf.nest.map_structure(lambda t: tf.gather(t, order), block)

            epoch = dataset.batch(buffer).enumerate().map(shuffle_block).unbatch()
        else:

            def gather(*element):
                keys = tf.random.stateless_uniform(
                    [size], seed=tf.stack([epoch_seed, tf.constant(0, tf.int64)])
                )
                order = tf.argsort(keys)
                permuted = tf.nest.map_structure(lambda t: tf.gather(t, order), element)
                return permuted[0] if len(permuted) == 1 else permuted

            epoch = whole.map(gather).unbatch()
        epoch = decode_share(epoch, decode, share, size)
        if map_with_seed is not None:

            def seeded(index, element):
                return map_with_seed(element, tf.stack([epoch_seed, index]))

            epoch = epoch.enumerate().map(seeded, num_parallel_calls=tf.data.AUTOTUNE)
        return epoch

    shuffled = epoch_seeds.dataset().flat_map(permute)
    # flat_map forgets the size; progress bars and schedules want it.
    return shuffled.apply(tf.data.experimental.assert_cardinality(size))


def stream_examples(stream, epoch_seeds=None, map_with_seed=None, share=None):
    """A split's unbatched examples, ready to batch.

    A `Stream` of files is shuffled by its index and decoded in parallel
    after; an in-memory dataset is cached first (as it always was). With
    `epoch_seeds` each epoch is ordered by `shuffle_by_epoch`; without, the
    examples come in index order (validation, test).

    Args:
        stream: A `Stream` (`splits.stream("train")`) or a `tf.data.Dataset`.
        epoch_seeds: `EpochSeeds` or `None`.
        map_with_seed: See `shuffle_by_epoch`.
        share: `WorkerShare` or `None`: under a multi-worker strategy, decode
            only this worker's rows (batch the result by `share.batch_size`).

    Returns:
        An unbatched `tf.data.Dataset`.
    """
    if not isinstance(stream, Stream):
        stream = Stream(stream)
    if stream.decode is None and stream.shuffle_buffer is None:
        stream = dataclasses.replace(stream, index=stream.index.cache())
    if epoch_seeds is not None:
        return shuffle_by_epoch(stream, epoch_seeds, map_with_seed, share=share)
    return decode_share(stream.index, stream.decode, share)


def fit_normalizer(train, mode="per_channel", batch_size=1024):
    """Fits the notes' "zero mean and unit variance" on the training split only.

    Returns an adapted `keras.layers.Normalization` to put at the front of a
    model, so the saved model takes raw images and validation / test data get
    the training statistics, never their own. Statistics are per channel: a
    per-pixel standard deviation is zero on the always-blank borders of digits
    and would blow up any ink that appears there at test time.

    Args:
        train: `tf.data.Dataset` of unbatched `(image, label)` pairs, or a
            `Stream`.
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
            invalid_value("normalize", mode, f"one of {', '.join(NORMALIZATIONS)}")
        )
    if mode == "none":
        return keras.layers.Identity(name="no_normalization")
    if isinstance(train, Stream):
        train = train.decoded()
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
