"""Resizing and channel conversion shared by every image source (TensorFlow ops)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.checks import invalid_value

# How an image meets the network's size: `stretch` resizes it to that size
# (the aspect changes); `letterbox` keeps its aspect, padding it first to the
# size's aspect with black bands on both sides (Keras's `pad_to_aspect_ratio`).
RESIZES = ("stretch", "letterbox")


def check_resize(resize):
    if resize not in RESIZES:
        raise ValueError(
            invalid_value("resize", resize, f"one of {', '.join(RESIZES)}")
        )
    return resize


def letterbox_frame(height, width, size):
    """Where an image of `height` x `width` lands in a letterboxed `size`.

    Keras's `pad_to_aspect_ratio` pads `(top, left)` pixels on both sides of
    each axis, then resizes: a pixel `(y, x)` of the image lands at
    `((y + top) * scale_y, (x + left) * scale_x)`. Works on NumPy arrays and
    TensorFlow tensors alike.

    Returns:
        `(top, left, scale_y, scale_x)`.

    Example:

    >>> letterbox_frame(100, 200, (50, 50))
    (50, 0, 0.25, 0.25)
    """
    target_height, target_width = size
    xp = tf if isinstance(height, tf.Tensor) else np
    height = xp.cast(height, "int32") if xp is tf else int(height)
    width = xp.cast(width, "int32") if xp is tf else int(width)

    def to_int(value):
        return tf.cast(value, "int32") if xp is tf else int(value)

    def to_float(value):
        return tf.cast(value, "float32") if xp is tf else float(value)

    padded_height = xp.maximum(
        height, to_int(to_float(width * target_height) / target_width)
    )
    padded_width = xp.maximum(
        width, to_int(to_float(height * target_width) / target_height)
    )
    top = to_int(to_float(padded_height - height) / 2)
    left = to_int(to_float(padded_width - width) / 2)
    scale_y = target_height / to_float(height + 2 * top)
    scale_x = target_width / to_float(width + 2 * left)
    return top, left, scale_y, scale_x


def check_image_size(image_size):
    """Returns `image_size` as a `(height, width)` tuple of ints, or `None`."""
    if image_size is None:
        return None
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise ValueError(
            invalid_value(
                "image_size", image_size, "a positive integer or a (height, width) pair"
            )
        )
    return (height, width)


def check_channels(channels):
    if channels is not None and channels not in (1, 3):
        raise ValueError(
            invalid_value("channels", channels, "1, 3 or None (keep the source's)")
        )
    return channels


def convert_images(images, image_size=None, channels=None):
    """Resizes float images (bilinear, antialiased) and converts their channels.

    Works on a single `(h, w, c)` image or a `(n, h, w, c)` batch. Grey becomes
    RGB by repeating the channel; RGB becomes grey with the ITU-R 601 weights of
    `tf.image.rgb_to_grayscale`.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if image_size is not None:
        images = tf.image.resize(images, image_size, method="bilinear", antialias=True)
    have = images.shape[-1]
    if channels is not None and have != channels:
        if have == 1 and channels == 3:
            images = tf.image.grayscale_to_rgb(images)
        elif have == 3 and channels == 1:
            images = tf.image.rgb_to_grayscale(images)
        else:
            raise ValueError(
                f"Cannot convert images with {have} channels to {channels} channels."
            )
    return images
