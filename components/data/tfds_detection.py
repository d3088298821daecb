"""Object-detection datasets from TensorFlow Datasets (`tfds:voc/2007`, ...)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.checks import check_positive_int
from components.data.annotations import box_frame
from components.data.canvases import DetectionSplits
from components.data.image_ops import check_image_size
from components.data.splits import check_fractions
from components.data.streams import Stream, _letterbox
from components.data.tfds_source import (
    SHUFFLE_BUFFER,
    _split_names,
    parse_tfds_spec,
    tfds_builder,
)


def _to_keras_boxes(example, size, max_objects, resize="stretch"):
    """A TFDS example to the Keras bounding-box dict, resized and padded."""
    height, width = size
    raw = tf.cast(example["image"], tf.float32)
    shape = tf.cast(tf.shape(raw), tf.float32)
    # Antialiased, as every detection source and the saved model resize.
    if resize == "letterbox":
        image = _letterbox(size, True)(raw) / 255.0
    else:
        image = tf.image.resize(raw / 255.0, size, antialias=True)
    image = tf.clip_by_value(image, 0.0, 1.0)
    if image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    objects = example["objects"]
    # TFDS boxes are relative [y_min, x_min, y_max, x_max].
    bbox = tf.reshape(tf.cast(objects["bbox"], tf.float32), (-1, 4))
    pixels = tf.stack([shape[1], shape[0], shape[1], shape[0]])
    offset, scale = box_frame(shape[1], shape[0], size, resize)
    boxes = (tf.gather(bbox, [1, 0, 3, 2], axis=-1) * pixels + offset) * scale
    labels = tf.cast(tf.reshape(objects["label"], (-1,)), tf.int32)
    count = tf.minimum(tf.shape(labels)[0], max_objects)
    pad = max_objects - count
    boxes = tf.pad(boxes[:count], [[0, pad], [0, 0]], constant_values=-1.0)
    labels = tf.pad(labels[:count], [[0, pad]], constant_values=-1)
    return {
        "images": tf.ensure_shape(image, (height, width, 3)),
        "bounding_boxes": {
            "boxes": tf.ensure_shape(boxes, (max_objects, 4)),
            "labels": tf.ensure_shape(labels, (max_objects,)),
        },
    }


def load_tfds_detection(
    name,
    image_size=224,
    max_objects=None,
    data_dir=None,
    download=True,
    validation_fraction=0.1,
    test_fraction=0.2,
    resize="stretch",
):
    """Loads a TFDS detection dataset in the format of `load_digit_canvases`.

    Any TFDS dataset with an `image` and `objects/bbox` + `objects/label`
    features works (`voc/2007`, `coco/2017`, ...). Images are resized to
    `image_size` (aspect not kept; boxes follow) as RGB in [0, 1]; boxes become
    "xyxy" pixels, padded to the most objects in any image.

    Args:
        name: String. `"voc/2007"` or `"tfds:voc:2007"`.
        image_size: Integer or `(height, width)`.
        max_objects: Positive integer or `None` (every box: padded to the most
            objects in any image, counted from the labels first). A cap is
            reported in `summary` with the boxes it drops.
        data_dir: String or `None`. TFDS data directory.
        download: Boolean. Download and prepare the data if missing.
        validation_fraction: Float. Share of `train` held out when the dataset
            has no validation split.
        test_fraction: Float. Share of `train` held out when it has no test split.
        resize: `"stretch"` or `"letterbox"` (`components.data.image_ops`).

    Returns:
        A `DetectionSplits`.
    """
    import tensorflow_datasets as tfds

    if name.startswith("tfds:"):
        name = parse_tfds_spec(name)
    size = check_image_size(image_size)
    if size is None:
        raise ValueError("Detection datasets need an `image_size` (images vary).")
    if max_objects is not None:
        check_positive_int("max_objects", max_objects)
    check_fractions(validation_fraction, test_fraction)
    builder = tfds_builder(name, data_dir)
    features = builder.info.features
    objects = features["objects"] if "objects" in features else None
    if (
        "image" not in features
        or objects is None
        or not {"bbox", "label"} <= set(objects.keys())
    ):
        raise ValueError(
            f"TFDS dataset {name!r} is not an object-detection dataset: expected "
            "'image' and 'objects' with 'bbox' and 'label' features."
        )
    label_feature = objects["label"]
    names = _split_names(builder.info, validation_fraction, test_fraction)
    loaded = tfds.load(
        name,
        split=[names["train"], names["validation"], names["test"]],
        data_dir=data_dir,
        download=download,
    )
    counts = [_object_counts(dataset) for dataset in loaded]
    most = max([int(c.max()) for c in counts if len(c)] + [1])
    slots = most if max_objects is None else min(max_objects, most)
    summary = {
        key: {
            "images": int(len(c)),
            "boxes": int(c.sum()),
            "images_without_boxes": int((c == 0).sum()),
            "most_boxes_in_an_image": int(c.max()) if len(c) else 0,
            "boxes_cut_by_the_edge": 0,  # TFDS boxes are relative, in [0, 1]
            "boxes_dropped_by_max_objects": int(np.maximum(c - slots, 0).sum()),
        }
        for key, c in zip(("train", "validation", "test"), counts)
    }
    max_objects = slots
    datasets, sizes = {}, {}
    for key, dataset in zip(("train", "validation", "test"), loaded):
        count = int(dataset.cardinality())
        if count == 0:
            raise ValueError(f"The {key} split of TFDS dataset {name!r} is empty.")
        datasets[key] = dataset.map(
            lambda example: _to_keras_boxes(example, size, max_objects, resize),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        sizes[key] = count if count > 0 else None
    return DetectionSplits(
        name=f"tfds:{name}",
        num_classes=label_feature.num_classes,
        image_shape=(*size, 3),
        max_objects=max_objects,
        sizes=sizes,
        class_names=tuple(label_feature.names),
        summary=summary,
        # Read in one order from TFRecords: shuffled through a seeded buffer,
        # never held in memory.
        streams={
            key: Stream(dataset, shuffle_buffer=SHUFFLE_BUFFER)
            for key, dataset in datasets.items()
        },
        **datasets,
    )


def _object_counts(dataset):
    """Objects per example, from the labels alone."""
    counts = dataset.map(
        lambda example: tf.shape(example["objects"]["label"])[0],
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    found = [c for c in counts.batch(4096).as_numpy_iterator()]
    return np.concatenate(found) if found else np.zeros(0, "int64")
