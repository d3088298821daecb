"""One entry point for every dataset source: `load("digits")`, `load("dir:PATH")`..."""

from __future__ import annotations

from components.checks import invalid_value
from components.data.digits import load_digits
from components.data.image_folders import load_image_folder
from components.data.npz_source import load_npz
from components.data.textures import load_textures
from components.data.tfds_source import load_tfds, parse_tfds_spec

SOURCES = ("digits", "textures", "dir:PATH", "npz:PATH", "tfds:NAME[:CONFIG]")


def load(
    spec,
    *,
    image_size=None,
    channels=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
    data_dir=None,
    download=True,
):
    """Loads a dataset by its spec string.

    Args:
        spec: String. `"digits"` (scikit-learn's handwritten digits, offline),
            `"textures"` (synthetic stripes, checkerboards and blobs, offline),
            `"dir:PATH"` (a folder with one sub-folder of images per class,
            `load_image_folder`), `"npz:PATH"` (arrays `x`, `y` and optionally
            `class_names`, `load_npz`) or `"tfds:NAME[:CONFIG]"` (any TFDS
            image-classification dataset).
        image_size: Integer, `(height, width)` or `None` (keep the source's).
        channels: 1, 3 or `None` (keep the source's).
        seed: Integer. Seed of the split where the source splits itself.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).
        data_dir: String or `None`. TFDS data directory.
        download: Boolean. Let TFDS download a missing dataset.

    Returns:
        A `DatasetSplits`.

    Example:

    >>> load("digits", image_size=16).input_shape
    (16, 16, 1)
    """
    common = dict(
        image_size=image_size,
        channels=channels,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
    )
    if spec == "digits":
        return load_digits(seed=seed, **common)
    if spec == "textures":
        return load_textures(seed=seed, **common)
    if isinstance(spec, str) and spec.startswith(("dir:", "npz:")) and spec[4:]:
        loader = load_image_folder if spec.startswith("dir:") else load_npz
        return loader(spec[4:], seed=seed, **common)
    if isinstance(spec, str) and spec.startswith("tfds:"):
        return load_tfds(
            parse_tfds_spec(spec), data_dir=data_dir, download=download, **common
        )
    raise ValueError(invalid_value("dataset", spec, f"one of {', '.join(SOURCES)}"))
