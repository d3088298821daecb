"""The flags every detection recipe shares (data, backbone, thresholds),
checked once, and the backbone options they give."""

from __future__ import annotations

import dataclasses

from components import data, models
from components.checks import check_positive_int, invalid_value
from recipes.run import flags, training

_flag = flags.flag

DATASET_PREFIXES = ("coco:", "yolo:", "tfds:")


CANVAS_OBJECTS = 4  # digits per canvas unless --max-objects says otherwise


# The hard canvases: up to 20 digits, from 1/32 to 3/8 of the canvas side
# (10-120 px at 320), boxes overlapping up to IoU 0.3, textured backgrounds.
HARD = {"objects": 20, "glyph_size": (1 / 32, 3 / 8), "max_iou": 0.3}


CANVASES = ("canvases", "canvases-hard")


@dataclasses.dataclass
class DetectionConfig(training.TrainingConfig):
    """Flags every detection recipe shares (a recipe's `Config` extends it)."""

    dataset: str = _flag(
        "canvases",
        "'canvases' (digits, offline), 'canvases-hard' (up to 20 digits of "
        "widely varying size, overlapping, on textured backgrounds: use "
        "--image-size 336, a multiple of the YOLO grid), "
        "coco:ANNOTATIONS.json[:IMAGES_DIR] "
        "(split at random) or coco:TRAIN.json,VAL.json[,TEST.json] (a file per "
        "split, each may add :IMAGES_DIR), yolo:PATH (images/ + labels/, split "
        "at random) or yolo:PATH[/data.yaml] (Ultralytics' train/val[/test] "
        "splits; without test, val is scored as test too), or tfds:NAME.",
    )
    image_size: int = _flag(112, "Side of the (square) images.")
    train_images: int = _flag(3000, "Training canvases.")
    validation_images: int = _flag(200, "Validation canvases.")
    test_images: int = _flag(500, "Test canvases (handwriting unseen in training).")
    max_objects: int | None = _flag(
        None,
        "Canvases: most digits per canvas (default 4). Files and TFDS: a cap on "
        "the boxes per image used for training, reported with what it drops "
        "(default: none, every box).",
    )
    resize: str = _flag(
        "stretch",
        "coco:/yolo:/tfds: how images meet --image-size: stretch (the aspect "
        "changes) or letterbox (the aspect kept, black bands). The saved model "
        "does the same and maps boxes back into each image's pixels.",
    )
    cache: str = _flag(
        "none",
        "coco:/yolo: images decoded every epoch (none), kept decoded in memory "
        "(ram), or written once decoded to a cache folder reused by later runs "
        "(disk).",
    )
    backbone: str = _flag("vgg", "Backbone builder.")
    width: int = _flag(16, "Width of the backbone.")
    stages: str = _flag("1,1,2,2", "VGG convolutions per stage (comma-separated).")
    score_threshold: float = _flag(0.01, "Lowest score kept for evaluation.")
    iou_threshold: float = _flag(0.5, "IoU above which NMS drops a box.")
    gallery_threshold: float = _flag(0.3, "Lowest score drawn in the gallery.")
    seed: int = _flag(0, "Seed of the canvases, initialization and shuffling.")
    data_dir: str | None = _flag(None, "TFDS data directory.")
    download: bool = _flag(True, "Let TFDS download a missing dataset.")
    verbose: int = _flag(1, "Keras verbosity: 0, 1 or 2.")
    monitors: bool = _flag(False, "Log update ratios and dead units (slower).")
    overfit_subset: int = _flag(
        0,
        "Sanity check: train on N canvases without augmentation and score on "
        "those same N (0: off).",
    )
    val_every: int = _flag(
        1,
        "Score the validation images (mAP, precision, recall) every N epochs "
        "and after the last; the best by mAP@[.5:.95] is saved as best.keras.",
    )
    patience: int | None = _flag(
        None,
        "Stop when mAP@[.5:.95] has not improved for N validations (default: never).",
    )

    def validate_detection(self, positive=()):
        """Checks the shared flags and the recipe's `positive` integer flags."""
        self.validate_training()
        if self.image_size is not None:  # None: chosen from the data at load
            check_positive_int("image_size", self.image_size)
        for name in (
            "train_images",
            "validation_images",
            "test_images",
            "width",
            "val_every",
            *positive,
        ):
            check_positive_int(name, getattr(self, name))
        for name in ("max_objects", "patience"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        data.check_cache(self.cache)
        data.check_resize(self.resize)
        check_positive_int("overfit_subset", self.overfit_subset, 0)
        for name in ("score_threshold", "iou_threshold", "gallery_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    invalid_value(name, getattr(self, name), "a float in [0, 1]")
                )
        if self.backbone not in models.available():
            raise ValueError(
                invalid_value(
                    "backbone", self.backbone, f"one of {', '.join(models.available())}"
                )
            )
        if self.dataset not in CANVASES and not (
            self.dataset.startswith(DATASET_PREFIXES) and self.dataset[5:]
        ):
            raise ValueError(
                invalid_value(
                    "dataset",
                    self.dataset,
                    "'canvases', 'canvases-hard', 'coco:ANNOTATIONS.json[:IMAGES_DIR]' (or one "
                    "per split, comma-separated), 'yolo:PATH[/data.yaml]' or "
                    "'tfds:NAME'",
                )
            )
        parse_stages(self.stages)


def parse_stages(text):
    try:
        stages = tuple(int(v) for v in text.split(","))
    except ValueError:
        stages = ()
    if not stages or min(stages) < 1:
        raise ValueError(
            invalid_value(
                "stages",
                text,
                "positive integers separated by commas, such as '1,1,2,2'",
            )
        )
    return stages


def backbone_options(config):
    """The registry options of the backbone flags."""
    options = {"width": config.width}
    if config.backbone == "vgg":
        options["stages"] = parse_stages(config.stages)
    return options
