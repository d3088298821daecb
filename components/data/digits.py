"""scikit-learn's handwritten digits: real data that ships inside the package."""

from __future__ import annotations

import numpy as np

from components.data.image_ops import check_channels, check_image_size, convert_images
from components.data.splits import from_arrays, stratified_split_indices

# The 8x8 images hold integer ink counts 0..16 (the UCI "optdigits" set).
_MAX_INK = 16.0


def digits_arrays():
    """Returns scikit-learn's 1,797 digits as `(images, labels)`.

    Images are float32 `(1797, 8, 8, 1)` scaled to [0, 1]; labels are int32.
    Loading reads a file inside scikit-learn: no network is needed.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = (bunch.images / _MAX_INK).astype("float32")[..., None]
    return images, bunch.target.astype("int32")


def digits_split_indices(seed=0, validation_fraction=0.1, test_fraction=0.2):
    """The stratified split indices that `load_digits` uses for these arguments.

    Baselines that work on the raw 8x8 features (such as the SVC of the
    classification recipe) use these to score on the very same test examples.
    """
    _, labels = digits_arrays()
    return stratified_split_indices(labels, validation_fraction, test_fraction, seed)


def load_digits(
    image_size=None,
    channels=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
):
    """Loads the digits as stratified, deterministic `DatasetSplits`.

    The notes' advice "overfit a small subset first" and "always shuffle" are
    cheap to follow on this set: 1,797 real handwritten digits (10 classes, about
    180 each), small enough to train a CNN on a laptop CPU in seconds.

    Args:
        image_size: Integer, `(height, width)` or `None`. Resize the 8x8 images
            (bilinear, antialiased); `None` keeps 8x8.
        channels: 1, 3 or `None`. Number of channels (3 repeats the grey one,
            for models that expect RGB).
        seed: Integer. Seed of the stratified split.
        validation_fraction: Float in (0, 1). Share of each class for validation.
        test_fraction: Float in (0, 1). Share of each class for testing.

    Returns:
        A `DatasetSplits` named `"digits"`.

    Example:

    >>> splits = load_digits(image_size=16, channels=3, seed=0)
    >>> splits.input_shape, splits.num_classes, splits.sizes["test"]
    ((16, 16, 3), 10, 359)
    """
    image_size = check_image_size(image_size)
    channels = check_channels(channels)
    images, labels = digits_arrays()
    if image_size is not None or channels is not None:
        images = convert_images(images, image_size, channels).numpy()
        images = np.clip(images, 0.0, 1.0)
    return from_arrays(
        images,
        labels,
        num_classes=10,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        name="digits",
    )
