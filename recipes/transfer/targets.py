"""The transfer recipe's target tasks, as arrays: a training pool and a test set."""

from __future__ import annotations

import dataclasses

import numpy as np

from components import data
from recipes.transfer.config import channels


@dataclasses.dataclass
class Target:
    """A target task as arrays: the training pool and the held-out test set."""

    name: str
    train: tuple
    test: tuple
    num_classes: int


def digits_half(config, classes, name):
    splits = data.load(
        "digits", image_size=config.image_size, channels=channels(config), seed=0
    )
    pool = data.select_classes(*splits.as_numpy("train"), classes)
    test = data.select_classes(*splits.as_numpy("test"), classes)
    return Target(name, pool, test, len(classes))


def load_target(config, spec):
    if spec == "digits-upper":
        return digits_half(config, range(5, 10), "digits 5-9")
    if spec == "textures":
        # Enough drawn that the training split holds `large_per_class` each.
        per_class = int(np.ceil(config.large_per_class / 0.7)) + 1
        splits = data.load_textures(
            config.image_size, channels(config), per_class=per_class, seed=0
        )
    else:
        splits = data.load(
            spec,
            image_size=config.image_size,
            channels=channels(config),
            data_dir=config.data_dir,
        )
    return Target(
        spec, splits.as_numpy("train"), splits.as_numpy("test"), splits.num_classes
    )


def sample(target, per_class, seed):
    """`per_class` training examples of each class (all, if there are fewer)."""
    images, labels = target.train
    if len(np.unique(labels)) < 2:
        raise ValueError(f"Target {target.name!r} has fewer than two classes.")
    available = int(np.bincount(labels).min())
    index = data.sample_per_class(labels, min(per_class, available), seed)
    return images[index], labels[index]
