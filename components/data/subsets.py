"""Subsets of a labelled array: some of its classes, or a few examples of each."""

from __future__ import annotations

import numpy as np

from components.checks import check_positive_int, invalid_value


def select_classes(images, labels, classes):
    """Keeps the examples of `classes` and relabels them `0 .. len(classes) - 1`.

    Args:
        images: Array `(n, ...)`.
        labels: Integer array `(n,)`.
        classes: Sequence of distinct class ids present in `labels`, in the
            order of their new labels.

    Returns:
        `(images, labels)` of the kept examples, labels remapped.

    Example:

    >>> import numpy as np
    >>> _, y = select_classes(np.zeros((6, 2)), np.array([0, 5, 6, 5, 1, 6]), [5, 6])
    >>> y.tolist()
    [0, 1, 0, 1]
    """
    labels = np.asarray(labels)
    classes = [int(c) for c in classes]
    missing = sorted(set(classes) - set(np.unique(labels).tolist()))
    if len(set(classes)) != len(classes) or len(classes) < 2 or missing:
        raise ValueError(
            invalid_value(
                "classes", classes, "two or more distinct class ids present in `labels`"
            )
        )
    keep = np.isin(labels, classes)
    remap = {c: i for i, c in enumerate(classes)}
    new = np.array([remap[int(c)] for c in labels[keep]], "int32")
    return np.asarray(images)[keep], new


def sample_per_class(labels, per_class, seed=0):
    """Indices of `per_class` randomly chosen examples of every class.

    Args:
        labels: Integer array `(n,)`.
        per_class: Positive integer. Examples to keep per class.
        seed: Integer. Seed of the choice.

    Returns:
        Sorted int64 index array of `per_class * num_classes` examples.

    Example:

    >>> sample_per_class([0, 0, 0, 1, 1, 1], 2, seed=0).shape
    (4,)
    """
    check_positive_int("per_class", per_class)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < per_class:
            raise ValueError(
                invalid_value(
                    "per_class",
                    per_class,
                    f"at most {len(members)} (the examples of class {int(cls)})",
                )
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype("int64")
