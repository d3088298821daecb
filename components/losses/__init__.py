"""Losses from the notes that Keras does not ship."""

from components.losses.multiclass_svm import MulticlassSVM

__all__ = ["MulticlassSVM"]
