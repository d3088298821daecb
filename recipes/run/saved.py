"""A finished run's saved model, or an export of it, as the commands read one."""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from components import serving

EXPORT_SUFFIXES = (".onnx", ".tflite", ".saved_model")


class ExportedServingModel:
    """An export (`python -m recipes.export`) behind the serving model's
    `predict`: raw uint8 images of any size in (resized here as the
    training data was, `runtimes.prepare`), class scores out, or a
    detector's dict with the boxes mapped back into each image's pixels."""

    def __init__(self, path):
        from components.deploy import runtimes

        self._runtimes = runtimes
        self.exported = runtimes.load(path)
        self.metadata = self.exported.metadata

    def predict(self, images, verbose=0):
        ready = np.stack([self._runtimes.prepare(x, self.metadata) for x in images])
        found = self.exported.predict(ready)
        if not isinstance(found, dict):
            return found
        boxes = found["boxes"].astype("float32")
        for i, image in enumerate(images):
            scale, offset = self._runtimes.box_frame(image.shape, self.metadata)
            boxes[i] = (boxes[i] - offset) / scale
        return {**found, "boxes": boxes * (found["scores"][..., None] > 0)}


def is_export(path):
    """Whether `path` is an export with its `<path>.json` beside it."""
    path = path.rstrip("/")
    return path.endswith(EXPORT_SUFFIXES) and os.path.isfile(path + ".json")


def load_model(path):
    """The serving model at `path` (a run directory, a `.keras` file, or an
    export with its JSON), its `serving.serving_info`, and the run's config
    when there is one (`{}`)."""
    if is_export(path):
        model = ExportedServingModel(path)
        meta = model.metadata
        info = {
            "kind": meta["kind"],
            "class_names": tuple(meta["class_names"]),
            "image_size": tuple(meta["image_size"]),
            "channels": meta["channels"],
            "needs_rois": False,
            "network": None,
        }
        return model, info, {}
    config = {}
    if os.path.isdir(path):
        config_file = os.path.join(path, "config.json")
        if os.path.isfile(config_file):
            with open(config_file) as f:
                config = json.load(f)
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise ValueError(
            f"No model at {path!r}: pass a finished run directory, a .keras file "
            "or an export (.onnx, .tflite, .saved_model with its .json)."
        )
    model = keras.saving.load_model(path, safe_mode=True)
    return model, serving.serving_info(model), config
