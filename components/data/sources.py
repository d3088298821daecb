"""One entry point for every dataset source: `load("digits")`, `load("dir:PATH")`..."""

from __future__ import annotations

from components.checks import invalid_value
from components.data.digits import load_digits
from components.data.image_folders import load_image_folder
from components.data.npz_source import load_npz
from components.data.streams import check_cache
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
    cache="none",
    verbose=0,
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
        cache: `"none"`, `"ram"` or `"disk"`: what a source that streams from
            files (`dir:`) keeps of its decoded images (`components.data.streams`).
        verbose: 0 or 1: a progress bar while a cache fills.

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
    check_cache(cache)
    if isinstance(spec, str) and spec.startswith("dir:") and spec[4:]:
        return load_image_folder(
            spec[4:], seed=seed, cache=cache, verbose=verbose, **common
        )
    if isinstance(spec, str) and spec.startswith("npz:") and spec[4:]:
        return load_npz(spec[4:], seed=seed, **common)
    if isinstance(spec, str) and spec.startswith("tfds:"):
        return load_tfds(
            parse_tfds_spec(spec), data_dir=data_dir, download=download, **common
        )
    raise ValueError(invalid_value("dataset", spec, f"one of {', '.join(SOURCES)}"))
