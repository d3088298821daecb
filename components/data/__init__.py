"""Dataset sources and the tf.data input pipeline."""

from components.data.annotations import (
    data_summary,
    load_coco_detection,
    summary_lines,
)
from components.data.augmentation import (
    AUGMENTATIONS,
    build_augmentation,
    parse_augment,
)
from components.data.box_augmentation import build_box_augmentation
from components.data.canvases import (
    DetectionSplits,
    digit_canvases,
    load_digit_canvases,
)
from components.data.detection_files import load_detection_files
from components.data.digits import digits_arrays, digits_split_indices, load_digits
from components.data.epoch_seeds import EpochSeeds
from components.data.image_files import ImageFileError, list_images, read_image
from components.data.image_folders import load_image_folder
from components.data.image_ops import RESIZES, check_resize, letterbox_frame
from components.data.mosaic import mosaic, tile_four
from components.data.npz_source import load_npz, read_npz_images
from components.data.object_sizes import (
    DEFAULT_INPUT,
    LARGEST_INPUT,
    SMALL_SHARE,
    input_size_for,
    largest_input_for,
    object_size_line,
    object_sizes,
)
from components.data.pipeline import (
    WorkerShare,
    decode_share,
    distribution_options,
    fit_normalizer,
    make_pipeline,
    pipeline_options,
    shuffle_by_epoch,
    stream_examples,
    worker_share,
)
from components.data.sources import SOURCES, load
from components.data.splits import DatasetSplits, from_arrays, stratified_split_indices
from components.data.streams import CACHES, Stream, check_cache, subset_stream
from components.data.subsets import sample_per_class, select_classes
from components.data.textures import TEXTURE_CLASSES, load_textures, texture_arrays
from components.data.tfds_detection import load_tfds_detection
from components.data.tfds_source import load_tfds
from components.data.yolo_source import load_yolo_detection
from components.detection.coco_eval import SMALL_SIDE

__all__ = [
    "AUGMENTATIONS",
    "CACHES",
    "RESIZES",
    "DatasetSplits",
    "DetectionSplits",
    "EpochSeeds",
    "ImageFileError",
    "SOURCES",
    "Stream",
    "TEXTURE_CLASSES",
    "WorkerShare",
    "build_augmentation",
    "build_box_augmentation",
    "check_cache",
    "check_resize",
    "data_summary",
    "decode_share",
    "digit_canvases",
    "distribution_options",
    "pipeline_options",
    "digits_arrays",
    "digits_split_indices",
    "fit_normalizer",
    "from_arrays",
    "letterbox_frame",
    "list_images",
    "load",
    "load_coco_detection",
    "load_detection_files",
    "load_image_folder",
    "load_npz",
    "load_digit_canvases",
    "load_digits",
    "load_textures",
    "load_tfds",
    "load_tfds_detection",
    "make_pipeline",
    "load_yolo_detection",
    "mosaic",
    "DEFAULT_INPUT",
    "LARGEST_INPUT",
    "SMALL_SHARE",
    "SMALL_SIDE",
    "input_size_for",
    "largest_input_for",
    "object_size_line",
    "object_sizes",
    "parse_augment",
    "read_image",
    "read_npz_images",
    "sample_per_class",
    "select_classes",
    "shuffle_by_epoch",
    "stream_examples",
    "stratified_split_indices",
    "subset_stream",
    "summary_lines",
    "texture_arrays",
    "tile_four",
    "worker_share",
]
