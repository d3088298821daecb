"""Image-classification datasets from TensorFlow Datasets (`tfds:NAME[:config]`)."""

from __future__ import annotations

import tensorflow as tf

from components.checks import invalid_value
from components.data.image_ops import check_channels, check_image_size, convert_images
from components.data.splits import DatasetSplits, check_fractions
from components.data.streams import Stream

SHUFFLE_BUFFER = 2048  # examples: bounded memory, a well-mixed order


def parse_tfds_spec(spec):
    """Splits `"tfds:NAME[:CONFIG]"` into the name TFDS expects (`NAME[/CONFIG]`)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] != "tfds" or not all(parts[1:]):
        raise ValueError(
            invalid_value(
                "dataset",
                spec,
                "'digits' or 'tfds:NAME[:CONFIG]', such as 'tfds:cifar10'",
            )
        )
    return "/".join(parts[1:])


def tfds_builder(name, data_dir=None):
    """`tfds.builder(name)`, with a one-line error for an unknown dataset."""
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises its own DatasetNotFoundError.
        raise ValueError(
            f"Unknown TFDS dataset {name!r}: {str(error).splitlines()[0]}"
        ) from None


def _split_names(info, validation_fraction, test_fraction):
    """Chooses TFDS split strings for train, validation and test.

    A dataset's own validation and test splits are used where it has them; the
    missing ones are cut from the end of `train` with TFDS's percent slicing,
    which is deterministic but not stratified. When the split list is unknown
    (as under `tfds.testing.mock_data`), `train` and `test` are assumed.
    """
    known = set(info.splits.keys())
    has_test = "test" in known or not known
    has_validation = "validation" in known
    cuts = (0 if has_validation else validation_fraction) + (
        0 if has_test else test_fraction
    )
    train_end = round(100 * (1 - cuts))
    names = {"train": f"train[:{train_end}%]" if cuts else "train"}
    if has_validation:
        names["validation"] = "validation"
    else:
        val_end = round(100 * (1 - (0 if has_test else test_fraction)))
        names["validation"] = f"train[{train_end}%:{val_end}%]"
    names["test"] = (
        "test" if has_test else f"train[{round(100 * (1 - test_fraction))}%:]"
    )
    return names


def load_tfds(
    name,
    image_size=None,
    channels=None,
    data_dir=None,
    download=True,
    validation_fraction=0.1,
    test_fraction=0.2,
):
    """Loads a TFDS image-classification dataset as `DatasetSplits`.

    This is the real loader: with `download=True` TFDS fetches and prepares the
    dataset under `data_dir` on first use. Images become float32 in [0, 1], are
    resized when `image_size` is given (required when the dataset's images vary
    in size) and converted to `channels`.

    Args:
        name: String. A TFDS name, optionally with a config: `"cifar10"`,
            `"mnist"`, `"imagenette/160px"`. `"tfds:NAME[:CONFIG]"` is accepted.
        image_size: Integer, `(height, width)` or `None`.
        channels: 1, 3 or `None` (keep the dataset's).
        data_dir: String or `None`. Where TFDS keeps its data (TFDS's default
            `~/tensorflow_datasets` when `None`).
        download: Boolean. Download and prepare the data if it is missing.
        validation_fraction: Float in (0, 1). Share of `train` held out for
            validation when the dataset has no validation split.
        test_fraction: Float in (0, 1). Share of `train` held out for testing
            when the dataset has no test split.

    Returns:
        A `DatasetSplits`.
    """
    import tensorflow_datasets as tfds

    if name.startswith("tfds:"):
        name = parse_tfds_spec(name)
    image_size = check_image_size(image_size)
    channels = check_channels(channels)
    check_fractions(validation_fraction, test_fraction)
    builder = tfds_builder(name, data_dir)
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(
            f"TFDS dataset {name!r} has no (image, label) supervised keys: it is not "
            "an image-classification dataset."
        )
    image_key, label_key = keys
    image_feature, label_feature = info.features[image_key], info.features[label_key]
    if not isinstance(image_feature, tfds.features.Image) or not isinstance(
        label_feature, tfds.features.ClassLabel
    ):
        raise ValueError(
            f"TFDS dataset {name!r} is not image classification: its supervised keys "
            f"are {type(image_feature).__name__} and {type(label_feature).__name__}, "
            "expected Image and ClassLabel."
        )
    height, width, source_channels = image_feature.shape
    if image_size is None and (height is None or width is None):
        raise ValueError(
            f"TFDS dataset {name!r} has images of varying size: pass `image_size`."
        )
    out_size = image_size or (height, width)
    out_channels = channels or source_channels

    names = _split_names(info, validation_fraction, test_fraction)
    datasets = tfds.load(
        name,
        split=[names["train"], names["validation"], names["test"]],
        as_supervised=True,
        data_dir=data_dir,
        download=download,
    )

    def to_float(image, label):
        image = tf.cast(image, tf.float32) / 255.0
        return convert_images(image, image_size, channels), tf.cast(label, tf.int32)

    splits, sizes = {}, {}
    for key, dataset in zip(("train", "validation", "test"), datasets):
        count = int(dataset.cardinality())
        if count == 0:
            raise ValueError(
                f"The {key} split of TFDS dataset {name!r} ({names[key]}) is empty."
            )
        splits[key] = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        sizes[key] = count if count > 0 else None  # None: TFDS does not know.
    return DatasetSplits(
        name=f"tfds:{name}",
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        num_classes=int(label_feature.num_classes),
        input_shape=(*out_size, out_channels),
        sizes=sizes,
        class_names=tuple(label_feature.names),
        # Read in one order from TFRecords: each epoch shuffles through a
        # buffer seeded by the epoch, never the whole split in memory.
        streams={
            key: Stream(dataset, shuffle_buffer=SHUFFLE_BUFFER)
            for key, dataset in splits.items()
        },
    )
