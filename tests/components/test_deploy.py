"""Every classifier builder exports to LiteRT and ONNX and answers as Keras."""

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


def test_a_detector_of_the_rcnn_family_is_refused_in_one_line():
    from components import detection

    network = detection.build("faster_rcnn", (64, 64, 3), 3, backbone="vgg")
    decoded = detection.region_inference_model(network)
    served = serving.detector_serving_model(decoded, ["a", "b", "c"])
    with pytest.raises(ValueError, match="Only classifiers and YOLO export"):
        edge.edge_model(served)
