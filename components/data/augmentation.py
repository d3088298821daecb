"""Training-time augmentation from the notes, built on Keras's augmentation layers.

The notes: "Expand dataset. For images do -> add noise, whitening, drop pixels,
rotate and color shift, blur", and AlexNet's "image translations, horizontal
reflections, and patch extractions". Each name below maps to one of those; all
but two are Keras layers. Additive noise and dropped pixels are plain TensorFlow
ops because Keras's `GaussianNoise` and `Dropout` are model layers tied to the
active backend (and `Dropout` rescales what it keeps), whereas augmentation runs
inside `tf.data` on every backend. TensorFlow only (tf.data).
"""

from __future__ import annotations

import keras
import tensorflow as tf

AUGMENTATIONS = (
    "noise",
    "rotate",
    "translate",
    "color",
    "blur",
    "drop",
    "crop",
    "flip",
)


def parse_augment(augment):
    """Turns `"rotate,translate"`, a list of names or `None` into a tuple of names."""
    if augment is None or augment == "" or augment == "none":
        return ()
    names = augment.split(",") if isinstance(augment, str) else list(augment)
    names = tuple(n.strip() for n in names if n.strip())
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            "Invalid value received for argument `augment`. Expected a comma-separated "
            f"subset of {', '.join(AUGMENTATIONS)} (or 'none'). Received: "
            f"augment={augment!r} (unknown: {', '.join(unknown)})"
        )
    return names


def _generator(seed):
    # A generator's state advances with every draw, so each epoch gets fresh
    # noise; an op-level seed (tf.random.normal(seed=...)) would replay the
    # same draws every time the dataset is iterated.
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(seed)


def _noise(stddev, seed):
    generator = _generator(seed)

    def apply(images):
        noise = generator.normal(tf.shape(images), stddev=stddev)
        return tf.clip_by_value(images + noise, 0.0, 1.0)

    return apply


def _drop_pixels(rate, seed):
    generator = _generator(seed)

    def apply(images):
        shape = tf.concat([tf.shape(images)[:-1], [1]], axis=0)
        keep = generator.uniform(shape) >= rate
        return tf.where(keep, images, tf.zeros_like(images))

    return apply


def _crop(input_shape, pad, seed):
    height, width = input_shape[0], input_shape[1]
    crop = keras.layers.RandomCrop(height, width, seed=seed)

    def apply(images):
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], "REFLECT")
        return crop(padded, training=True)

    return apply


def _layer(layer):
    return lambda images: layer(images, training=True)


def build_augmentation(augment, input_shape, seed=None):
    """Builds a batch-level augmentation function for `tf.data` pipelines.

    Images are expected in [0, 1]. Magnitudes are mild on purpose: strong
    rotations or flips change what a digit means.

    | name | what it does |
    | --- | --- |
    | `noise` | additive Gaussian noise, stddev 0.05 |
    | `rotate` | `keras.layers.RandomRotation`, up to +-10 degrees |
    | `translate` | `keras.layers.RandomTranslation`, up to 10% each way |
    | `color` | `keras.layers.RandomColorJitter`: brightness, contrast (and hue, saturation on RGB) |
    | `blur` | `keras.layers.RandomGaussianBlur`, 3x3 kernel |
    | `drop` | sets 5% of pixels to zero |
    | `crop` | AlexNet's patch extraction: reflect-pad 2 px, `keras.layers.RandomCrop` back |
    | `flip` | `keras.layers.RandomFlip("horizontal")`, AlexNet's reflections |

    Args:
        augment: String or list of names from the table, or `None`.
        input_shape: Tuple. `(height, width, channels)` of the images.
        seed: Integer or `None`. Seed of every random op.

    Returns:
        A function from an image batch to an augmented batch of the same shape,
        or `None` when `augment` names nothing.

    Example:

    >>> import tensorflow as tf
    >>> fn = build_augmentation("rotate,noise", (8, 8, 1), seed=1)
    >>> fn(tf.zeros((2, 8, 8, 1))).shape
    TensorShape([2, 8, 8, 1])
    """
    names = parse_augment(augment)
    if not names:
        return None
    rgb = input_shape[-1] == 3
    steps = []
    for name in names:
        if name == "noise":
            steps.append(_noise(0.05, seed))
        elif name == "rotate":
            steps.append(_layer(keras.layers.RandomRotation(10 / 360, seed=seed)))
        elif name == "translate":
            steps.append(_layer(keras.layers.RandomTranslation(0.1, 0.1, seed=seed)))
        elif name == "color":
            jitter = keras.layers.RandomColorJitter(
                value_range=(0, 1),
                brightness_factor=0.2,
                contrast_factor=0.2,
                saturation_factor=(0.4, 0.6) if rgb else None,
                hue_factor=0.05 if rgb else None,
                seed=seed,
            )
            steps.append(_layer(jitter))
        elif name == "blur":
            blur = keras.layers.RandomGaussianBlur(
                factor=0.5,
                kernel_size=3,
                sigma=(0.1, 1.0),
                value_range=(0, 1),
                seed=seed,
            )
            steps.append(_layer(blur))
        elif name == "drop":
            steps.append(_drop_pixels(0.05, seed))
        elif name == "crop":
            steps.append(_crop(input_shape, 2, seed))
        elif name == "flip":
            steps.append(_layer(keras.layers.RandomFlip("horizontal", seed=seed)))

    def augment_batch(images):
        for step in steps:
            images = step(images)
        return images

    return augment_batch
