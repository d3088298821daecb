"""Pretrained `keras.applications` bases, with their input preprocessing as a layer."""

from __future__ import annotations

import keras
import numpy as np

from components.checks import invalid_value

# How each family scales its inputs (`keras.applications.*.preprocess_input`):
# "tf" maps [0, 255] to [-1, 1], "torch" standardizes with ImageNet's mean and
# standard deviation, "builtin" models hold their preprocessing and take [0, 255].
_MODES = {
    "tf": (
        "MobileNet",
        "MobileNetV2",
        "ResNet50V2",
        "ResNet101V2",
        "ResNet152V2",
        "InceptionV3",
        "InceptionResNetV2",
        "Xception",
        "NASNetMobile",
    ),
    "torch": ("DenseNet121", "DenseNet169", "DenseNet201"),
    "builtin": (
        *(f"EfficientNetB{i}" for i in range(8)),
        *(f"EfficientNetV2{s}" for s in ("B0", "B1", "B2", "B3", "S", "M", "L")),
        "MobileNetV3Small",
        "MobileNetV3Large",
        *(f"ConvNeXt{s}" for s in ("Tiny", "Small", "Base", "Large", "XLarge")),
    ),
}
APPLICATIONS = tuple(name for names in _MODES.values() for name in names)
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")


def _mode(name):
    for mode, names in _MODES.items():
        if name in names:
            return mode
    raise ValueError(
        invalid_value(
            "name",
            name,
            f"a keras.applications model with a serializable preprocessing: {', '.join(APPLICATIONS)} (VGG and ResNet50/101/152 flip RGB to BGR and are left out)",
        )
    )


def preprocessing_layer(name):
    """A layer mapping images in [0, 1] to what application `name` expects.

    The same arithmetic as `keras.applications.<module>.preprocess_input` on
    images scaled to [0, 255], as a standard layer, so that a model holding it
    saves and loads with `safe_mode=True` (a `Lambda` would not).

    Example:

    >>> import numpy as np
    >>> layer = preprocessing_layer("MobileNetV2")
    >>> np.asarray(layer(np.array([[[[0.0, 0.5, 1.0]]]]))).round(3).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """
    mode = _mode(name)
    if mode == "tf":
        return keras.layers.Rescaling(2.0, offset=-1.0, name="preprocess")
    if mode == "torch":
        return keras.layers.Normalization(
            mean=_IMAGENET_MEAN, variance=_IMAGENET_STD**2, name="preprocess"
        )
    return keras.layers.Rescaling(255.0, name="preprocess")


def application_base(name, input_shape, weights="imagenet"):
    """A `keras.applications` network without its top, pooled to CNN codes.

    The real path for users with internet: `weights="imagenet"` downloads the
    pretrained weights once (into `~/.keras/models`). `weights=None` builds
    the same architecture with random weights (tests, and training from
    scratch).

    Args:
        name: String. One of `APPLICATIONS`, e.g. `"MobileNetV2"`.
        input_shape: `(height, width, 3)`.
        weights: `"imagenet"`, `None`, or a path to a weights file.

    Returns:
        `(base, preprocessing)`: the base `keras.Model` from images to
        `(batch, features)` codes (global average pooling), and the layer that
        maps [0, 1] images to its input (`preprocessing_layer(name)`).

    Example:

    >>> base, prep = application_base("MobileNetV2", (32, 32, 3), weights=None)
    >>> base.output.shape
    (None, 1280)
    """
    preprocessing = preprocessing_layer(name)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            invalid_value(
                "input_shape",
                tuple(input_shape),
                "(height, width, 3): keras.applications models take RGB images",
            )
        )
    base = getattr(keras.applications, name)(
        include_top=False,
        weights=weights,
        input_shape=tuple(input_shape),
        pooling="avg",
    )
    return base, preprocessing
