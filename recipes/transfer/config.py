"""The transfer recipe's flags: `Config`, and the `--quick` settings."""

from __future__ import annotations

import dataclasses

from components import data, models, transfer
from components.checks import check_positive_int, invalid_value
from recipes.run import flags, training

_flag = flags.flag
QUICK = {
    "image_size": 16,
    "epochs": 12,
    "source_epochs": 6,
    "fine_tune_epochs": 6,
    "head_epochs": 60,
    "large_per_class": 50,
}


@dataclasses.dataclass
class Config(training.TrainingConfig):
    source: str = _flag(
        "digits-lower",
        "Pretrained network: 'digits-lower' (this project's model trained on "
        "digits 0-4, offline) or 'keras:NAME' (keras.applications).",
    )
    weights: str = _flag("imagenet", "keras:NAME weights: 'imagenet' or 'none'.")
    model: str = _flag("vgg", "Builder of the offline source model.")
    similar: str = _flag(
        "digits-upper",
        "Similar target: 'digits-upper', dir:PATH, npz:PATH or tfds:NAME.",
    )
    different: str = _flag(
        "textures", "Different target: 'textures', dir:PATH, npz:PATH or tfds:NAME."
    )
    small_per_class: int = _flag(10, "Training examples per class of a small target.")
    large_per_class: int = _flag(100, "Training examples per class of a large one.")
    small_below: int = _flag(50, "Fewer examples per class than this is 'small'.")
    image_size: int = _flag(32, "Side of the (square) images.")
    early_layer: str | None = _flag(
        None, "Layer of the early codes (default: end of the second stage)."
    )
    grid: int = _flag(2, "Early codes are average-pooled to a grid x grid map.")
    source_epochs: int = _flag(20, "Epochs of the offline source model.")
    fine_tune_epochs: int = _flag(15, "Epochs of fine-tuning.")
    fine_tune_factor: float = _flag(0.1, "Fine-tuning rate = this x learning rate.")
    fine_tune_from: str | None = _flag(
        None, "Fine-tune from this layer up (default: the whole network)."
    )
    head_epochs: int = _flag(150, "Epochs of the linear classifiers on fixed codes.")
    augment: str = _flag("translate", "Augmentation of full-network training.")
    repeats: int = _flag(1, "Repeat each run with other seeds; report the mean.")
    quick: bool = _flag(False, "A smaller, faster run (16x16 images, few epochs).")
    seed: int = _flag(0, "Seed of the splits, samples and initializations.")
    source_cache: str | None = _flag(
        None, "Folder of the cached source model (default <run-dir>/source)."
    )
    data_dir: str | None = _flag(None, "TFDS data directory.")
    run_dir: str | None = _flag(None, "Run directory (default runs/transfer/<time>).")
    verbose: int = _flag(0, "Keras verbosity of each fit: 0, 1 or 2.")
    batch_size: int = _flag(32, "Batch size.")
    monitors: bool = _flag(False, "Log update ratios and dead units (slower).")

    def validate(self):
        self.validate_training()
        for name in (
            "small_per_class",
            "large_per_class",
            "small_below",
            "image_size",
            "grid",
            "source_epochs",
            "fine_tune_epochs",
            "head_epochs",
            "repeats",
        ):
            check_positive_int(name, getattr(self, name))
        if self.small_per_class >= self.large_per_class:
            raise ValueError("--small-per-class must be below --large-per-class.")
        if not self.small_per_class < self.small_below <= self.large_per_class:
            raise ValueError(
                "Expected small_per_class < small_below <= large_per_class, so that "
                "the small and large targets fall in different regimes. Received: "
                f"{self.small_per_class}, {self.small_below}, {self.large_per_class}"
            )
        if not 0 < self.fine_tune_factor <= 1:
            raise ValueError(
                invalid_value(
                    "fine_tune_factor", self.fine_tune_factor, "a float in (0, 1]"
                )
            )
        if self.source != "digits-lower" and not self.source.startswith("keras:"):
            raise ValueError(
                invalid_value("source", self.source, "'digits-lower' or 'keras:NAME'")
            )
        if self.source.startswith("keras:"):
            transfer.preprocessing_layer(self.source[len("keras:") :])
        elif self.model not in models.available():
            raise ValueError(
                invalid_value(
                    "model", self.model, f"one of {', '.join(models.available())}"
                )
            )
        if self.weights not in ("imagenet", "none"):
            raise ValueError(
                invalid_value("weights", self.weights, "'imagenet' or 'none'")
            )
        for name in ("similar", "different"):
            spec = getattr(self, name)
            if spec not in ("digits-upper", "textures") and not spec.startswith(
                "tfds:"
            ):
                raise ValueError(
                    invalid_value(
                        name, spec, "'digits-upper', 'textures' or 'tfds:NAME'"
                    )
                )
        data.parse_augment(self.augment)


def channels(config):
    return 3 if config.source.startswith("keras:") else 1
