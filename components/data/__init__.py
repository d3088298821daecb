"""Dataset sources and the tf.data input pipeline."""

from components.data.augmentation import (
    AUGMENTATIONS,
    build_augmentation,
    parse_augment,
)
from components.data.digits import digits_arrays, digits_split_indices, load_digits
from components.data.pipeline import fit_normalizer, make_pipeline
from components.data.sources import SOURCES, load
from components.data.splits import DatasetSplits, from_arrays, stratified_split_indices
from components.data.subsets import sample_per_class, select_classes
from components.data.textures import TEXTURE_CLASSES, load_textures, texture_arrays
from components.data.tfds_source import load_tfds

__all__ = [
    "AUGMENTATIONS",
    "DatasetSplits",
    "SOURCES",
    "TEXTURE_CLASSES",
    "build_augmentation",
    "digits_arrays",
    "digits_split_indices",
    "fit_normalizer",
    "from_arrays",
    "load",
    "load_digits",
    "load_textures",
    "load_tfds",
    "make_pipeline",
    "parse_augment",
    "sample_per_class",
    "select_classes",
    "stratified_split_indices",
    "texture_arrays",
]
