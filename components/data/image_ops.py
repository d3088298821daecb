"""Resizing and channel conversion shared by every image source (TensorFlow ops)."""

from __future__ import annotations

import tensorflow as tf

from components.checks import invalid_value


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
