"""The graph an edge runtime runs, and its export in each format.

A saved serving model (`components.serving`) takes uint8 images of any
size and resizes them inside, with antialiasing as the training data was
resized. That resize is TensorFlow's `ScaleAndTranslate`, which neither
LiteRT's builtin ops nor ONNX have; an export therefore takes uint8 images
already at the network's size (the runtime side resizes them, see
`components.deploy.runtimes.prepare`) and holds everything after: the
scaling, the network, the class scores. Nothing in it needs TensorFlow's
select ops, so the plain runtimes run it.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from components.checks import invalid_value
from components.serving import serving_info

FORMATS = ("saved_model", "litert", "onnx")
QUANTIZATIONS = ("none", "fp16", "int8")
# Representative images an int8 conversion calibrates its ranges on.
CALIBRATION_IMAGES = 200


def check_export(fmt, quantize):
    """Raises a one-line `ValueError` for a format or a quantization this
    module cannot write, or a backend it cannot write from."""
    if keras.backend.backend() != "tensorflow":
        # The converters (the LiteRT converter, tf2onnx) read TensorFlow
        # graphs; a model.keras trained on any backend loads into one.
        raise ValueError(
            "Exports convert TensorFlow graphs: run with KERAS_BACKEND=tensorflow "
            f"(a model trained on {keras.backend.backend()} exports the same, "
            "model.keras does not depend on the backend)."
        )
    if fmt not in FORMATS:
        raise ValueError(invalid_value("format", fmt, f"one of {', '.join(FORMATS)}"))
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            invalid_value("quantize", quantize, f"one of {', '.join(QUANTIZATIONS)}")
        )
    if fmt == "saved_model" and quantize != "none":
        raise ValueError(
            f"--quantize {quantize} applies to --format litert and onnx; "
            "--format saved_model is exported as trained (--quantize none)."
        )


def _preprocessing(model):
    for layer in model.layers:
        if keras.saving.get_registered_name(type(layer)) == (
            "components>ImagePreprocessing"
        ):
            return layer
    raise ValueError(f"Model {model.name!r} has no ImagePreprocessing layer.")


def edge_model(serving_model):
    """The serving model after its resize: uint8 images at the network's size
    in, what the network answers out.

    Args:
        serving_model: A saved classifier or YOLO detector of
            `components.serving` (R-CNN and Fast R-CNN are refused: their
            regions come from outside the model).

    Returns:
        `(model, metadata)`: a `keras.Model` taking uint8 `(batch, height,
        width, channels)` images, and the JSON-able facts a runtime needs
        (class names, size, channels, resize, scale, kind).

    Example:

    >>> from components import serving
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> served = serving.classifier_serving_model(net, ["a", "b"])
    >>> edge, meta = edge_model(served)
    >>> edge.input.dtype, tuple(edge.input.shape), meta["class_names"]
    ('uint8', (None, 8, 8, 1), ['a', 'b'])
    """
    info = serving_info(serving_model)
    prep = _preprocessing(serving_model)
    height, width = prep.image_size
    channels = info["channels"]
    metadata = {
        "kind": info["kind"],
        "class_names": list(info["class_names"]),
        "image_size": [height, width],
        "channels": channels,
        "resize": prep.resize,
        "antialias": prep.antialias,
        "input": {"name": "images", "dtype": "uint8", "layout": "NHWC"},
    }
    if info["kind"] == "classifier":
        raw = keras.Input((height, width, channels), dtype="uint8", name="images")
        pixels = keras.layers.Rescaling(prep.scale, name="scale")(raw)
        outputs = info["network"](pixels)
        metadata["outputs"] = ["scores"]
        metadata["output"] = "class scores (batch, classes)"
    else:
        head, decoding = _decoding_parts(info)
        metadata["decoding"] = decoding.kind
        # One image per call, as detectors are usually exported: the
        # suppression runs class by class on one image's boxes.
        raw = keras.Input(
            (height, width, channels), batch_size=1, dtype="uint8", name="images"
        )
        pixels = keras.layers.Rescaling(prep.scale, name="scale")(raw)
        outputs = decoding(head(pixels))
        metadata["outputs"] = sorted(outputs)
        metadata["output"] = (
            "one image per call: boxes (1, max_detections, 4) xyxy in the "
            "network's input pixels, scores, labels (class indices), "
            "num_detections (rows past it are zeros)"
        )
    model = keras.Model(raw, outputs, name=f"{serving_model.name}_edge")
    return model, metadata


def _decoding_parts(info):
    """The network up to its decoding as a model, and the portable decoding
    that replaces it; a one-line refusal for the detectors that cannot
    export."""
    from components.detection.decoding import (
        DenseDecoding,
        RegionDecoding,
        YoloDecoding,
    )

    network = info["network"]
    if info["needs_rois"]:
        raise ValueError(
            "R-CNN and Fast R-CNN do not export: their regions come from "
            "selective search, which runs outside the model; classifiers, YOLO "
            "and Faster R-CNN export."
        )
    for layer in network.layers:
        if isinstance(layer, (YoloDecoding, RegionDecoding, DenseDecoding)):
            config = layer.get_config()
            settings = {
                key: config[key]
                for key in (
                    "image_shape",
                    "score_threshold",
                    "iou_threshold",
                    "max_detections",
                )
            }
            if isinstance(layer, YoloDecoding):
                settings["kind"] = "yolo"
                settings["boxes_per_cell"] = config["boxes_per_cell"]
            elif isinstance(layer, DenseDecoding):
                settings["kind"] = "dense"
                settings["num_classes"] = config["num_classes"]
            outputs = layer.input
            if isinstance(layer, RegionDecoding) and isinstance(outputs, list):
                # The decoding's dict input, flattened in sorted key order
                # (keras.tree's order for dicts): named again.
                keys = sorted(("rois", "class_logits", "box_deltas"))
                outputs = dict(zip(keys, outputs))
            head = keras.Model(network.input, outputs, name="head")
            return head, PortableDecoding(**settings)
    raise ValueError(f"Model {network.name!r} has no decoding layer to export.")


class PortableDecoding(keras.layers.Layer):
    """A detector's decoding for one image in ops the edge runtimes have as
    builtins (`components.detection.postprocess.portable_nms`): `kind`
    "yolo" (with `boxes_per_cell`), "dense" or "region" (the R-CNN
    family's). Lives only inside exports (TensorFlow graphs), so it is not
    registered for saving."""

    def __init__(
        self,
        image_shape,
        score_threshold,
        iou_threshold,
        max_detections,
        kind="region",
        boxes_per_cell=None,
        num_classes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kind = kind
        self.num_classes = num_classes
        self.image_shape = tuple(image_shape)
        self.thresholds = (float(score_threshold), float(iou_threshold))
        self.max_detections = int(max_detections)
        self.boxes_per_cell = boxes_per_cell

    def call(self, raw):
        from components.detection import postprocess

        if self.kind == "yolo":
            yxyx, scores = postprocess.yolo_boxes_and_scores(raw, self.boxes_per_cell)
        elif self.kind == "dense":
            yxyx, scores = postprocess.dense_boxes_and_scores(raw, self.num_classes)
        else:
            yxyx, scores = postprocess.region_boxes_and_scores(raw, self.image_shape)
        return postprocess.portable_nms(
            yxyx[0], scores[0], self.image_shape, *self.thresholds, self.max_detections
        )

    def compute_output_spec(self, raw):
        most = self.max_detections
        return {
            "boxes": keras.KerasTensor((1, most, 4), "float32"),
            "scores": keras.KerasTensor((1, most), "float32"),
            "labels": keras.KerasTensor((1, most), "int32"),
            "num_detections": keras.KerasTensor((1,), "int32"),
        }


def export_path(out, fmt):
    """The artifact's path for `--out` (a suffix added where the format has one)."""
    suffix = {"litert": ".tflite", "onnx": ".onnx", "saved_model": ""}[fmt]
    return out if not suffix or out.endswith(suffix) else out + suffix


def export(model, metadata, out, fmt, quantize="none", calibration=None):
    """Writes `model` (an `edge_model`) as `fmt`, and `<path>.json` beside it.

    Args:
        model: The edge model.
        metadata: Its metadata (`edge_model`); the format and quantization
            are added.
        out: String. The artifact's path (`export_path`).
        fmt: `"saved_model"`, `"litert"` or `"onnx"`.
        quantize: `"none"`, `"fp16"` (weights in half precision) or `"int8"`
            (weights and activations, calibrated on `calibration`).
        calibration: uint8 images `(n, height, width, channels)`; needed
            for int8.

    Returns:
        The artifact's path.
    """
    check_export(fmt, quantize)
    if quantize == "int8" and calibration is None:
        raise ValueError("--quantize int8 needs calibration images (--calibration).")
    path = export_path(out, fmt)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # Keras's ONNX exporter takes the input signature from a model called once.
    model(np.zeros((1, *model.input.shape[1:]), "uint8"))
    if fmt == "saved_model":
        model.export(path, format="tf_saved_model", verbose=False)
    elif fmt == "litert":
        model.export(
            path,
            format="litert",
            verbose=False,
            **_litert_options(quantize, calibration),
        )
    else:
        _export_onnx(model, path)
        if quantize != "none":
            _quantize_onnx(path, quantize, calibration)
    with open(path + ".json", "w") as f:
        json.dump({**metadata, "format": fmt, "quantize": quantize}, f, indent=2)
    return path


def _export_onnx(model, path):
    """ONNX through a frozen graph. Keras's `export(format="onnx")` hands
    tf2onnx the function with its captured constants (a `Normalization`'s
    mean and variance) as extra graph inputs that no caller feeds; frozen
    first, as tf2onnx's own loaders do, they are constants in the graph."""
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec(model.input.shape, tf.uint8, name="images")

    def serve(images):
        outputs = model(images, training=False)
        if not isinstance(outputs, dict):
            return tf.identity(outputs, name="scores")
        # Named, in sorted order: the runtime reads them by these names.
        return [tf.identity(outputs[k], name=k) for k in sorted(outputs)]

    function = tf.function(serve)
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # TF1-API deprecation notices of the freezing
    try:
        frozen = convert_variables_to_constants_v2(function.get_concrete_function(spec))
        patch_tf2onnx()  # Keras's fix of tf2onnx for NumPy 2
        tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(),
            input_names=[t.name for t in frozen.inputs],
            output_names=[t.name for t in frozen.outputs],
            output_path=path,
        )
    finally:
        logger.setLevel(level)
    outputs = model(spec_inputs(model), training=False)
    names = sorted(outputs) if isinstance(outputs, dict) else ["scores"]
    _name_onnx_outputs(path, names)


def spec_inputs(model):
    """A symbolic input of `model`'s (for the structure of its outputs)."""
    return keras.KerasTensor(model.input.shape, model.input.dtype)


def _name_onnx_outputs(path, names):
    """Renames the ONNX graph's outputs (the freezing leaves `Identity:0`,
    `Identity_1:0`...) to `names`, so that a runtime without our metadata
    reads `boxes`, `scores`... by name."""
    import onnx

    graph = onnx.load(path)
    renames = {out.name: name for out, name in zip(graph.graph.output, names)}
    for node in graph.graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
        node.input[:] = [renames.get(i, i) for i in node.input]
    for out in graph.graph.output:
        out.name = renames.get(out.name, out.name)
    onnx.save(graph, path)


def _litert_options(quantize, calibration):
    import tensorflow as tf

    # Builtin ops only: Keras's exporter would otherwise allow TensorFlow's
    # select ops, which the plain LiteRT runtime cannot run.
    spec = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    if quantize == "none":
        return {"target_spec": spec}
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "fp16":
        return {**options, "target_spec": {**spec, "supported_types": [tf.float16]}}
    images = np.asarray(calibration[:CALIBRATION_IMAGES])

    def representative():
        for image in images:
            yield [image[None]]

    return {**options, "target_spec": spec, "representative_dataset": representative}


def _quantize_onnx(path, quantize, calibration):
    import onnx

    if quantize == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # Inputs and outputs keep their types (uint8 in, float32 scores out).
        half = convert_float_to_float16(onnx.load(path), keep_io_types=True)
        onnx.save(half, path)
        return
    from onnxruntime import quantization as q

    class Reader(q.CalibrationDataReader):
        def __init__(self, images, name):
            self.batches = iter([{name: image[None]} for image in images])

        def get_next(self):
            return next(self.batches, None)

    model = onnx.load(path)
    name = model.graph.input[0].name
    float_path = path + ".float"
    os.replace(path, float_path)
    try:
        q.quantize_static(
            float_path,
            path,
            Reader(np.asarray(calibration[:CALIBRATION_IMAGES]), name),
            quant_format=q.QuantFormat.QDQ,
            activation_type=q.QuantType.QInt8,
            weight_type=q.QuantType.QInt8,
        )
    finally:
        os.remove(float_path)
