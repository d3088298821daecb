"""Run an exported model with ONNX Runtime or LiteRT: NumPy, no TensorFlow.

An export (`components.deploy.edge`) takes uint8 images at the network's
size and has its facts in `<path>.json` beside it. `load(path)` returns an
`ExportedModel` whose `predict` takes such images; `prepare` resizes images
of any size the way the training data was (antialiased bilinear, stretched
or letterboxed) with Pillow. A SavedModel runs on TensorFlow, imported only
for it.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np


def read_metadata(path):
    """The JSON written beside an export; a one-line error if it is absent."""
    meta = path.rstrip("/") + ".json"
    if not os.path.isfile(meta):
        raise ValueError(
            f"{path}: no {meta} beside it; export with `python -m recipes.export`, "
            "which writes the class names and the input size there."
        )
    with open(meta) as f:
        return json.load(f)


class ExportedModel:
    """An export loaded in its runtime.

    Args:
        path: String. A `.onnx` or `.tflite` file, or a SavedModel folder,
            with its `<path>.json`.

    Attributes:
        metadata: The export's JSON (class names, image size, channels...).
    """

    def __init__(self, path):
        self.path = path
        self.metadata = read_metadata(path)
        self.detector = self.metadata["kind"] == "detector"
        fmt = self.metadata["format"]
        if fmt == "onnx":
            import onnxruntime

            self._session = onnxruntime.InferenceSession(
                path, providers=["CPUExecutionProvider"]
            )
            self._input = self._session.get_inputs()[0].name
            self._run = self._run_onnx
        elif fmt == "litert":
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=path)
            self._interpreter.allocate_tensors()
            self._run = self._run_litert
            if self.detector:
                # Outputs by their signature names (the flat order is not).
                self._runner = self._interpreter.get_signature_runner()
                self._run = lambda images: self._runner(images=images)
        else:
            import tensorflow as tf

            self._saved = tf.saved_model.load(path)
            self._run = lambda images: _numpy(self._saved.serve(images))

    def _run_onnx(self, images):
        outputs = self._session.run(None, {self._input: images})
        if self.detector:  # in the order the export wrote them
            return dict(zip(self.metadata["outputs"], outputs))
        return outputs[0]

    def _run_litert(self, images):
        interpreter = self._interpreter
        given = interpreter.get_input_details()[0]
        if tuple(given["shape"]) != images.shape:
            interpreter.resize_tensor_input(given["index"], images.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], images)
        interpreter.invoke()
        output = interpreter.get_output_details()[0]
        return interpreter.get_tensor(output["index"]).copy()

    def predict(self, images, batch_size=32):
        """Class scores `(n, classes)` of uint8 images `(n, height, width,
        channels)` at the export's size (see `prepare`); for a detector, a
        dict of `boxes` `(n, max_detections, 4)` (the network's input
        pixels), `scores`, `labels` and `num_detections`, one image a call."""
        images = np.asarray(images)
        height, width = self.metadata["image_size"]
        expected = (height, width, self.metadata["channels"])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(
                f"Expected uint8 images of shape (n, {height}, {width}, "
                f"{expected[2]}) (`prepare` resizes them); received "
                f"{images.dtype} {images.shape}."
            )
        if self.detector:
            found = [self._run(images[i : i + 1]) for i in range(len(images))]
            return {
                key: np.concatenate([np.asarray(f[key]) for f in found])
                for key in self.metadata["outputs"]
            }
        return np.concatenate(
            [
                self._run(images[i : i + batch_size])
                for i in range(0, len(images), batch_size)
            ]
        )

    def latency(self, image, repeats=50):
        """Median seconds to predict one image (after one warm-up call)."""
        batch = np.asarray(image)[None]
        self._run(batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self._run(batch)
            times.append(time.perf_counter() - start)
        return float(np.median(times))


def _numpy(outputs):
    if isinstance(outputs, dict):
        return {key: np.asarray(value) for key, value in outputs.items()}
    return np.asarray(outputs)


def load(path):
    """`ExportedModel(path)`."""
    return ExportedModel(path)


def box_frame(shape, metadata):
    """`(scale, offset)`, each `(4,)` for "xyxy": a box in the network's
    pixels is `box * scale + offset` of the box in an image of `shape`
    prepared by `prepare`."""
    height, width = metadata["image_size"]
    source_height, source_width = shape[:2]
    if metadata.get("resize") == "letterbox":
        ratio = min(height / source_height, width / source_width)
        inner_width = max(1, round(source_width * ratio))
        inner_height = max(1, round(source_height * ratio))
        left, top = (width - inner_width) // 2, (height - inner_height) // 2
        sx, sy = inner_width / source_width, inner_height / source_height
    else:
        left = top = 0
        sx, sy = width / source_width, height / source_height
    return np.array([sx, sy, sx, sy]), np.array([left, top, left, top], "float64")


def prepare(image, metadata):
    """One image (a path or a uint8 array) as the export takes it: its
    channels, resized to the network's size as the training data was.

    Pillow's bilinear filter widens with the shrink factor, as TensorFlow's
    antialiased resize does; pixels may differ from it by rounding.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            image = np.asarray(opened.convert("RGB"))
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    channels = metadata["channels"]
    if image.shape[-1] != channels:
        picture = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
        picture = picture.convert("L" if channels == 1 else "RGB")
        image = np.asarray(picture)
        image = image[..., None] if image.ndim == 2 else image
    height, width = metadata["image_size"]
    source_height, source_width = image.shape[:2]
    picture = Image.fromarray(image.squeeze(-1) if channels == 1 else image)
    if metadata.get("resize") == "letterbox":
        scale = min(height / source_height, width / source_width)
        inner = (
            max(1, round(source_width * scale)),
            max(1, round(source_height * scale)),
        )
        canvas = Image.new(picture.mode, (width, height))
        canvas.paste(
            picture.resize(inner, Image.BILINEAR),
            ((width - inner[0]) // 2, (height - inner[1]) // 2),
        )
        picture = canvas
    else:
        picture = picture.resize((width, height), Image.BILINEAR)
    resized = np.asarray(picture, dtype=np.uint8)
    return resized[..., None] if resized.ndim == 2 else resized
