"""Every classifier builder exports to LiteRT and ONNX and answers as Keras."""

import keras
import numpy as np
import pytest

from components import models, serving
from components.deploy import edge, runtimes

# The converters run on TensorFlow (LiteRT's, tf2onnx): exports are made
# from the TensorFlow backend (the JAX half of `make test` skips this file).
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("name", models.available())
@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_every_builder_exports_and_matches_keras(name, fmt, tmp_path):
    # Untrained weights are as good a parity check as trained ones: every
    # layer of the builder (LRN, inception branches, fire modules...) must
    # convert to builtin ops and compute what Keras computes.
    network = models.build(name, (32, 32, 3), 5)
    served = serving.classifier_serving_model(network, list("abcde"))
    model, metadata = edge.edge_model(served)
    path = edge.export(model, metadata, str(tmp_path / name), fmt)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), "uint8")
    found = runtimes.load(path).predict(images)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(found, expected, atol=1e-4)
    assert metadata["class_names"] == list("abcde")


def _assert_export_detects_as_keras(decoded, fmt, tmp_path):
    """Exports a decoding detector; the runtime must give Keras's detections
    on three random 64 x 64 images (some found in each). Returns the export's
    metadata."""
    served = serving.detector_serving_model(decoded, ["a", "b", "c"])
    model, metadata = edge.edge_model(served)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), "uint8")
    expected = decoded.predict(images.astype("float32") / 255, verbose=0)
    path = edge.export(model, metadata, str(tmp_path / "detector"), fmt)
    found = runtimes.load(path).predict(images)
    np.testing.assert_array_equal(found["num_detections"], expected["num_detections"])
    assert expected["num_detections"].min() > 0
    for key in ("scores", "boxes"):
        np.testing.assert_allclose(found[key], expected[key], atol=1e-3)
    np.testing.assert_array_equal(found["labels"], expected["labels"])
    return metadata


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_faster_rcnn_exports_with_its_proposals_and_roi_pooling(fmt, tmp_path):
    # Untrained, with a threshold that keeps detections: the proposals
    # (matrix NMS), RoI pooling (its inference path in builtin ops) and the
    # class-by-class suppression must give Keras's detections in the
    # runtime. In ONNX every proposal moved while the selection held an
    # infinity (tf2onnx's arithmetic `where` made it NaN).
    from components import detection

    keras.utils.set_random_seed(0)
    network = detection.build("faster_rcnn", (64, 64, 3), 3, backbone="vgg")
    decoded = detection.region_inference_model(network, score_threshold=0.3)
    _assert_export_detects_as_keras(decoded, fmt, tmp_path)


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_a_dense_detector_exports_with_its_suppression_in_builtin_ops(fmt, tmp_path):
    # Untrained, at a threshold that keeps detections: the boxes from the
    # distances (softplus, a constant grid of centres) and the class-by-class
    # suppression must give Keras's detections in the runtime.
    from components import detection

    keras.utils.set_random_seed(0)
    network = detection.build("dense", (64, 64, 3), 3, width=4, stages=(1, 1, 1, 1))
    decoded = detection.dense_inference_model(network, score_threshold=0.005)
    metadata = _assert_export_detects_as_keras(decoded, fmt, tmp_path)
    assert metadata["decoding"] == "dense"


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_a_yolov8_detector_exports_and_detects_as_keras(fmt, tmp_path):
    # The box distributions' softmax and expectation, the PAN neck's
    # upsampling and joins, and the suppression must all convert to builtin
    # ops and give Keras's detections; ONNX outputs are named, not Identity:0.
    # Untrained, every box side is the middle of its range and every score the
    # class prior: boxes and scores all but tied, which suppression breaks
    # differently in two runtimes. Random output layers give boxes and scores
    # of their own, as a trained network has.
    from components import detection

    keras.utils.set_random_seed(0)
    detector = detection.Detector.create(
        "yolov8", (64, 64, 3), 3, width=0.0625, score_threshold=0.2
    )
    rng = np.random.default_rng(0)
    for layer in detector.layers:
        if layer.name.endswith("_out") and layer.name[:3] in ("box", "cls"):
            kernel, bias = layer.get_weights()
            layer.set_weights(
                [rng.normal(0, 0.5, kernel.shape), rng.normal(-1, 1, bias.shape)]
            )
    metadata = _assert_export_detects_as_keras(
        detector.inference_model(), fmt, tmp_path
    )
    assert metadata["decoding"] == "dense"
    if fmt == "onnx":
        import onnxruntime

        path = edge.export_path(str(tmp_path / "detector"), fmt)
        names = [o.name for o in onnxruntime.InferenceSession(path).get_outputs()]
        assert names == ["boxes", "labels", "num_detections", "scores"]


def test_rcnn_and_fast_rcnn_are_refused_in_one_line():
    from components import detection

    network = detection.build("fast_rcnn", (64, 64, 3), 3, backbone="vgg")
    decoded = detection.region_inference_model(network)
    served = serving.detector_serving_model(decoded, ["a", "b", "c"])
    with pytest.raises(ValueError, match="selective search"):
        edge.edge_model(served)
