"""In-memory datasets: validated arrays, stratified splits, and the split bundle."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from components.checks import invalid_value


@dataclasses.dataclass(frozen=True)
class DatasetSplits:
    """Train / validation / test splits of an image-classification dataset.

    Each split is an unbatched `tf.data.Dataset` of `(image, label)` pairs, the
    image a float32 `(height, width, channels)` tensor in [0, 1] and the label an
    int32 class index. Statistics (mean, standard deviation, ...) must only ever
    be computed on `train`: the notes' "any preprocessing statistics must only be
    computed on the training data, and then applied to the validation / test data".

    Args:
        name: String. The dataset spec it was loaded from (`"digits"`, ...).
        train: `tf.data.Dataset`. The training split.
        validation: `tf.data.Dataset`. The validation split.
        test: `tf.data.Dataset`. The held-out test split.
        num_classes: Integer. Number of classes; labels lie in
            `[0, num_classes)`.
        input_shape: Tuple of ints. `(height, width, channels)` of every image.
        sizes: Dict. Number of examples per split, keyed `"train"`,
            `"validation"`, `"test"`.
        class_names: Tuple of strings. A readable name per class.
        antialias: Boolean. Whether images were antialiased when resized, so
            that a saved model resizes new images the same way.
        streams: Dict or `None`. For a source that streams from files, the
            `Stream` of each split (`stream(split)`); `train` etc. are then
            its decoded examples, read as they are iterated.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    sizes: dict
    class_names: tuple = ()
    antialias: bool = True
    streams: dict | None = None

    def stream(self, split):
        """The split as a `Stream`: a file source's index and decoder (the
        pipeline shuffles the index and decodes after), or the in-memory
        dataset itself."""
        from components.data.streams import Stream

        split = _check_split(split)
        if self.streams and split in self.streams:
            return self.streams[split]
        return Stream(getattr(self, split))

    def labels(self, split):
        """The labels of one split, in order, without decoding an image."""
        stream = self.stream(split)
        if stream.decode is not None:
            index = stream.index.map(lambda *element: element[-1])
        else:
            index = stream.index.map(lambda x, y: y)
        found = [y for y in index.batch(4096).as_numpy_iterator()]
        return np.concatenate(found).astype("int32") if found else np.zeros(0, "int32")

    def as_numpy(self, split):
        """Returns `(images, labels)` of one split as NumPy arrays."""
        dataset = getattr(self, _check_split(split))
        images, labels = [], []
        for x, y in dataset.batch(1024).as_numpy_iterator():
            images.append(x)
            labels.append(y)
        if not images:
            return (np.zeros((0, *self.input_shape), "float32"), np.zeros(0, "int32"))
        return np.concatenate(images), np.concatenate(labels)


def _check_split(split):
    if split not in ("train", "validation", "test"):
        raise ValueError(
            invalid_value("split", split, "one of 'train', 'validation', 'test'")
        )
    return split


def check_fractions(validation_fraction, test_fraction):
    """Raises a clear `ValueError` unless both fractions leave a training split."""
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise ValueError(invalid_value(name, value, "a float in (0, 1)"))
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "Invalid values received for arguments `validation_fraction` and "
            "`test_fraction`. Expected their sum to be below 1 so that a training "
            f"split remains. Received: validation_fraction={validation_fraction}, "
            f"test_fraction={test_fraction}"
        )


def stratified_split_indices(labels, validation_fraction, test_fraction, seed):
    """Splits example indices into train / validation / test, class by class.

    Every class is shuffled with a generator seeded by `seed` and cut in the
    same proportions, so each split keeps the class balance of the whole set and
    the same seed always gives the same split.

    Args:
        labels: 1-D integer array. The class of each example.
        validation_fraction: Float in (0, 1). Share of each class for validation.
        test_fraction: Float in (0, 1). Share of each class for testing.
        seed: Integer. Seed of the shuffle.

    Returns:
        A dict of sorted index arrays keyed `"train"`, `"validation"`, `"test"`.

    Example:

    >>> parts = stratified_split_indices([0] * 10 + [1] * 10, 0.2, 0.2, seed=0)
    >>> [len(parts[k]) for k in ("train", "validation", "test")]
    [12, 4, 4]
    """
    check_fractions(validation_fraction, test_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = {"train": [], "validation": [], "test": []}
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(validation_fraction * len(members)))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {k: np.sort(np.concatenate(v)).astype("int64") for k, v in parts.items()}


def check_split_sizes(parts, source, validation_fraction, test_fraction):
    """Raises a clear `ValueError` when a split of `parts` (index arrays) is
    empty; `source` prefixes the message (`"dataset dir:PATH: "`)."""
    total = sum(len(index) for index in parts.values())
    for key, index in parts.items():
        if len(index) == 0:
            raise ValueError(
                f"{source}The {key} split is empty: {total} examples are too few "
                f"for validation_fraction={validation_fraction} and "
                f"test_fraction={test_fraction}."
            )


def check_arrays(images, labels, num_classes):
    """Validates image and label arrays; returns them as float32 / int32.

    Raises a `ValueError` naming the problem for an empty dataset, images that
    are not `(n, height, width, channels)`, a label count that differs from the
    image count, labels outside `[0, num_classes)` and non-finite pixels (a NaN
    would otherwise surface epochs later as a NaN loss).
    """
    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels)
    if images.shape[0] == 0:
        raise ValueError("The dataset is empty: `images` holds 0 examples.")
    if images.ndim != 4:
        raise ValueError(
            "Invalid value received for argument `images`. Expected an array of "
            f"shape (n, height, width, channels). Received: shape={images.shape}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            "Invalid value received for argument `labels`. Expected one integer "
            f"label per image, shape ({images.shape[0]},). Received: "
            f"shape={labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "Invalid value received for argument `labels`. Expected integer class "
            f"indices. Received: dtype={labels.dtype}"
        )
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f"Labels out of range: expected values in [0, {num_classes}), found "
            f"{labels[bad][:5].tolist()} (at indices {np.flatnonzero(bad)[:5].tolist()})."
        )
    finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"Images hold NaN or infinite values: {int((~finite).sum())} of "
            f"{len(images)} images, first at index {int(np.flatnonzero(~finite)[0])}."
        )
    return images, labels.astype("int32")


def from_arrays(
    images,
    labels,
    *,
    num_classes=None,
    validation_fraction=0.1,
    test_fraction=0.2,
    seed=0,
    name="arrays",
    class_names=(),
    antialias=True,
):
    """Builds stratified `DatasetSplits` from in-memory arrays.

    Args:
        images: Array of shape `(n, height, width, channels)`, values in [0, 1].
        labels: Integer array of shape `(n,)`.
        num_classes: Integer or `None`. Defaults to `max(labels) + 1`.
        validation_fraction: Float in (0, 1). Share of each class for validation.
        test_fraction: Float in (0, 1). Share of each class for testing.
        seed: Integer. Seed of the stratified split.
        name: String. Name recorded in the result.
        class_names: Tuple of strings. Optional class names.
        antialias: Boolean. Recorded in the result (see `DatasetSplits`).

    Returns:
        A `DatasetSplits`.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((50, 4, 4, 1))
    >>> splits = from_arrays(x, np.arange(50) % 5)
    >>> splits.sizes
    {'train': 35, 'validation': 5, 'test': 10}
    """
    labels_array = np.asarray(labels)
    if num_classes is None:
        num_classes = int(labels_array.max()) + 1 if labels_array.size else 0
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(invalid_value("num_classes", num_classes, "an integer >= 2"))
    if class_names and len(class_names) != num_classes:
        raise ValueError(
            f"Expected {num_classes} class names, one per class; received "
            f"{len(class_names)}: {list(class_names)[:10]}"
        )
    images, labels = check_arrays(images, labels_array, num_classes)
    parts = stratified_split_indices(labels, validation_fraction, test_fraction, seed)
    check_split_sizes(parts, "", validation_fraction, test_fraction)
    datasets = {}
    for key, index in parts.items():
        datasets[key] = tf.data.Dataset.from_tensor_slices(
            (images[index], labels[index])
        )
    return DatasetSplits(
        name=name,
        train=datasets["train"],
        validation=datasets["validation"],
        test=datasets["test"],
        num_classes=num_classes,
        input_shape=tuple(images.shape[1:]),
        sizes={k: int(len(v)) for k, v in parts.items()},
        class_names=tuple(class_names) or tuple(str(i) for i in range(num_classes)),
        antialias=antialias,
    )
