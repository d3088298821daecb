"""Augmentation that moves boxes with the pixels (Keras's bounding-box layers)."""

from __future__ import annotations

import keras
import tensorflow as tf

from components.checks import invalid_value


def build_box_augmentation(
    translate=0.1, zoom=0.15, min_side=4.0, seed=None, flip=False
):
    """Translation and scale jitter for detection batches, boxes kept right.

    Keras's `RandomTranslation` and `RandomZoom` (and, with `flip`,
    `RandomFlip`) transform the boxes of a
    `{"images", "bounding_boxes": {"boxes", "labels"}}` batch with the image
    ("xyxy" pixels) and clip them to it. A box pushed (almost) out of the
    image, narrower or lower than `min_side` pixels once clipped, becomes
    padding (box and label -1), as do the padding rows themselves.

    Args:
        translate: Float in [0, 1). Largest shift, as a fraction of each side.
        zoom: Float in [0, 1). Largest zoom in or out, as a fraction.
        min_side: Float. Smallest box side (pixels) kept after clipping.
        seed: Integer or `None`.
        flip: Boolean. Also mirror half the images left to right: only for
            classes that a mirror keeps (shapes, animals; not digits or
            letters).

    Returns:
        A function from a batched dict to an augmented batched dict (tf.data).

    Example:

    >>> import numpy as np
    >>> augment = build_box_augmentation(seed=0)
    >>> batch = {"images": np.zeros((1, 32, 32, 1), "float32"),
    ...          "bounding_boxes": {"boxes": np.array([[[8., 8., 20., 20.]]]),
    ...                             "labels": np.array([[3]])}}
    >>> out = augment(batch)
    >>> out["bounding_boxes"]["labels"].numpy().tolist()
    [[3]]
    """
    for name, value in (("translate", translate), ("zoom", zoom)):
        if not 0.0 <= value < 1.0:
            raise ValueError(invalid_value(name, value, "a float in [0, 1)"))
    layers = []
    if flip:
        layers.append(
            keras.layers.RandomFlip(
                "horizontal",
                bounding_box_format="xyxy",
                seed=None if seed is None else seed + 2,
            )
        )
    if translate:
        layers.append(
            keras.layers.RandomTranslation(
                translate,
                translate,
                fill_mode="constant",
                bounding_box_format="xyxy",
                seed=seed,
            )
        )
    if zoom:
        layers.append(
            keras.layers.RandomZoom(
                (-zoom, zoom),
                fill_mode="constant",
                bounding_box_format="xyxy",
                seed=None if seed is None else seed + 1,
            )
        )

    def augment(batch):
        labels = tf.cast(batch["bounding_boxes"]["labels"], tf.int32)
        batch = {
            "images": batch["images"],
            "bounding_boxes": {
                "boxes": tf.cast(batch["bounding_boxes"]["boxes"], tf.float32),
                "labels": labels,
            },
        }
        for layer in layers:
            batch = layer(batch)
        boxes = batch["bounding_boxes"]["boxes"]
        keep = (
            (labels >= 0)
            & (boxes[..., 2] - boxes[..., 0] >= min_side)
            & (boxes[..., 3] - boxes[..., 1] >= min_side)
        )
        return {
            "images": batch["images"],
            "bounding_boxes": {
                "boxes": tf.where(keep[..., None], boxes, -1.0),
                "labels": tf.where(keep, labels, -1),
            },
        }

    return augment
