"""The R-CNN family's parts: anchors, matching, deltas, losses, proposals,
decoding, and the detector model's save/load (RoI pooling is tested with the other layers, in test_layers.py)."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from components import detection
from components.detection import rcnn_losses


def test_anchor_grid_counts_positions_and_shapes():
    sizes, ratios = (16, 32), (0.5, 1.0, 2.0)
    anchors = detection.anchor_grid((3, 5), 8, sizes, ratios)
    assert anchors.shape == (3 * 5 * 6, 4)
    per_location = anchors.reshape(3, 5, 6, 4)
    centres = (per_location[..., :2] + per_location[..., 2:]) / 2
    np.testing.assert_allclose(centres[2, 4, :, 0], 4.5 * 8)  # column 4
    np.testing.assert_allclose(centres[2, 4, :, 1], 2.5 * 8)  # row 2
    wh = per_location[0, 0, :, 2:] - per_location[0, 0, :, :2]
    np.testing.assert_allclose(wh[:, 0] * wh[:, 1], [256] * 3 + [1024] * 3, rtol=1e-5)
    np.testing.assert_allclose(wh[:, 1] / wh[:, 0], ratios * 2, rtol=1e-5)
    for bad in ({"sizes": ()}, {"aspect_ratios": ()}, {"sizes": (0,)}):
        with pytest.raises(ValueError, match="at least one positive"):
            detection.anchor_grid((3, 5), 8, **bad)


def test_match_boxes_thresholds_best_anchor_and_padding():
    anchors = np.array(
        [
            [0, 0, 10, 10],  # IoU 10/12 with box 0: positive
            [0, 0, 10, 18],  # IoU 120/180 with box 0: ignored
            [40, 40, 60, 60],  # nothing: negative
            [70, 70, 80, 100],  # IoU 0.5 with box 1, its best: forced positive
        ],
        "float32",
    )
    boxes = np.array([[[0, 0, 10, 12], [70, 70, 85, 90], [-1, -1, -1, -1]]], "float32")
    matches, index, iou = (
        ops.convert_to_numpy(v) for v in detection.match_boxes(anchors, boxes)
    )
    assert matches.tolist() == [[1, -1, 0, 1]]
    assert index[0, [0, 3]].tolist() == [0, 1]
    np.testing.assert_allclose(iou[0, :2], [10 / 12, 120 / 180], rtol=1e-5)
    plain = ops.convert_to_numpy(
        detection.match_boxes(anchors, boxes, force_best=False)[0]
    )
    assert plain.tolist() == [[1, -1, 0, -1]]
    empty = -np.ones((1, 2, 4), "float32")
    assert ops.convert_to_numpy(detection.match_boxes(anchors, empty)[0]).tolist() == [
        [0, 0, 0, 0]
    ]
    with pytest.raises(ValueError, match="negative_iou <= positive_iou"):
        detection.match_boxes(anchors, boxes, 0.3, 0.7)


box = st.tuples(
    st.floats(0, 100), st.floats(0, 100), st.floats(2, 60), st.floats(2, 60)
).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(box, box), min_size=1, max_size=6))
def test_delta_encoding_round_trip(pairs):
    anchors = np.array([a for a, _ in pairs], "float32")
    boxes = np.array([b for _, b in pairs], "float32")
    deltas = ops.convert_to_numpy(detection.encode_deltas(anchors, boxes))
    wa, wb = anchors[:, 2] - anchors[:, 0], boxes[:, 2] - boxes[:, 0]
    expected_dw = np.log(wb / wa) / detection.BOX_VARIANCE[2]
    np.testing.assert_allclose(deltas[:, 2], expected_dw, rtol=1e-4, atol=1e-4)
    decoded = ops.convert_to_numpy(detection.decode_deltas(anchors, deltas))
    np.testing.assert_allclose(decoded, boxes, rtol=1e-4, atol=1e-3)


def test_region_targets_and_detector_losses_by_hand():
    regions = np.array(
        [[[0, 0, 10, 10], [50, 50, 60, 60], [-1, -1, -1, -1]]], "float32"
    )
    boxes = np.array([[[0, 0, 10, 11], [-1, -1, -1, -1]]], "float32")
    classes, deltas = detection.region_targets(regions, boxes, [[2, -1]])
    classes, deltas = ops.convert_to_numpy(classes), ops.convert_to_numpy(deltas)
    assert classes.tolist() == [[3, 0, -1]]
    assert not deltas[0, 1:].any()
    np.testing.assert_allclose(deltas[0, 0, 3], np.log(11 / 10) / 0.2, rtol=1e-5)

    logits = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = -(log_probs[0, 0, 3] + log_probs[0, 1, 0]) / 2  # padding left out
    got = detection.detector_classification_loss(classes, logits)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)

    predicted = np.zeros((1, 3, 3, 4), "float32")
    predicted[0, 0, 2] = deltas[0, 0] + [0.5, 0, 0, 3.0]  # class 2 = label 3 - 1
    predicted[0, 0, 0] = 100.0  # another class's deltas: not trained
    got = detection.detector_regression_loss(classes, deltas, predicted)
    np.testing.assert_allclose(float(got), 0.5 * 0.5**2 + (3.0 - 0.5), rtol=1e-5)


def test_rpn_classification_loss_balances_positives_and_negatives():
    matches = np.array([[1, 0, 0, 0, -1]])
    logits = np.array([[2.0, -1.0, 0.5, 3.0, 50.0]], "float32")
    bce = np.log1p(np.exp(-logits)) + (1 - (matches == 1)) * logits
    expected = 0.5 * bce[0, 0] + 0.5 * bce[0, 1:4].mean()
    got = detection.rpn_classification_loss(matches, logits)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    targets = np.zeros((1, 5, 4), "float32")
    assert float(detection.rpn_regression_loss(matches, targets, targets + 0.1)) == (
        pytest.approx(4 * 0.5 * 0.01)
    )


def test_anchor_targets_encode_the_matched_box():
    anchors = detection.anchor_grid((2, 2), 16, (16,), (1,))
    boxes = np.array([[[16, 0, 32, 18]]], "float32")
    matches, deltas = rcnn_losses.anchor_targets(anchors, boxes)
    matches, deltas = ops.convert_to_numpy(matches), ops.convert_to_numpy(deltas)
    assert matches.tolist() == [[0, 1, 0, 0]]
    decoded = ops.convert_to_numpy(
        detection.decode_deltas(anchors[1:2], deltas[0, 1:2])
    )
    np.testing.assert_allclose(decoded[0], boxes[0, 0], atol=1e-4)


def test_matrix_nms_and_proposal_selection():
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [1, 0, 11, 10]]], "float32")
    kept = ops.convert_to_numpy(detection.matrix_nms(boxes, 0.5))
    assert kept.tolist() == [[True, True, False]]
    select = detection.ProposalSelection((32, 32), (2, 2), 16, (16,), (1,), 4, 3, 0.5)
    objectness = np.array([[0.1, 3.0, 2.0, -1.0]], "float32")
    regions = ops.convert_to_numpy(select([objectness, np.zeros((1, 4, 4), "float32")]))
    anchors = detection.anchor_grid((2, 2), 16, (16,), (1,))
    np.testing.assert_allclose(regions[0], anchors[[1, 2, 0]])
    with pytest.raises(ValueError, match="proposals"):
        detection.ProposalSelection((32, 32), (2, 2), 16, (16,), (1,), 4, 5)


@pytest.mark.backend_independent  # TensorFlow / OpenCV code
def test_sample_regions_mixes_objects_and_background():
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 80, (60, 2))
    regions = np.concatenate([corner, corner + 20], 1).astype("float32")
    boxes = np.array([[10, 10, 30, 30], [-1, -1, -1, -1]], "float32")
    out = detection.sample_regions(regions, boxes, 16, 0.25, seed=(3, 4)).numpy()
    again = detection.sample_regions(regions, boxes, 16, 0.25, seed=(3, 4)).numpy()
    np.testing.assert_array_equal(out, again)
    iou = ops.convert_to_numpy(
        keras.utils.bounding_boxes.compute_iou(out, boxes[:1], "xyxy")
    )
    assert out.shape == (16, 4) and (iou[:, 0] >= 0.5).sum() <= 4
    assert (iou[:, 0] >= 0.5).sum() >= 1  # at least the true box itself
    none = -np.ones((5, 4), "float32")  # an empty proposal set
    out = detection.sample_regions(none, boxes, 4, 0.5).numpy()
    assert out[0].tolist() == boxes[0].tolist() and (out[1:] == -1).all()


@pytest.mark.backend_independent  # TensorFlow / OpenCV code
def test_selective_search_finds_a_square_and_rejects_bad_images():
    image = np.zeros((32, 32, 1), "float32")
    image[8:20, 10:18] = 1.0
    regions = detection.selective_search(image, max_regions=100)
    assert ((regions == [10, 8, 18, 20]).all(axis=1)).any()
    assert len(regions) == len(np.unique(regions, axis=0))
    with pytest.raises(ValueError, match="image"):
        detection.selective_search(np.zeros((32, 32)))


@pytest.mark.backend_independent  # TensorFlow / OpenCV code
def test_decode_region_detections_refines_and_skips_padding():
    rois = np.array([[[10, 10, 30, 30], [-1, -1, -1, -1]]], "float32")
    logits = np.array([[[0.0, 0.0, 6.0], [0.0, 9.0, 0.0]]], "float32")
    deltas = np.zeros((1, 2, 2, 4), "float32")
    deltas[0, 0, 1] = ops.convert_to_numpy(
        detection.encode_deltas(rois[0, :1], [[12, 10, 32, 34]])
    )[0]
    out = detection.decode_region_detections(
        {"rois": rois, "class_logits": logits, "box_deltas": deltas}, (64, 64)
    )
    assert int(out["num_detections"][0]) == 1 and int(out["labels"][0, 0]) == 1
    np.testing.assert_allclose(out["boxes"][0, 0], [12, 10, 32, 34], atol=1e-3)
    # An image whose proposal set is empty (all padding) has no detections.
    empty = {"rois": -np.ones_like(rois), "class_logits": logits, "box_deltas": deltas}
    assert (
        int(detection.decode_region_detections(empty, (64, 64))["num_detections"][0])
        == 0
    )


def test_region_detector_round_trip_and_logged_losses(tmp_path):
    network = detection.faster_rcnn_network(
        (32, 32, 1),
        3,
        (8, 16),
        (1.0,),
        proposals=8,
        pool_size=2,
        rpn_width=8,
        head_width=8,
        width=4,
        stages=(1, 1),
    )
    model = detection.RegionDetector(network)
    images = np.random.default_rng(0).uniform(size=(4, 32, 32, 1)).astype("float32")
    targets = {
        "boxes": np.tile(
            np.array([[[4, 4, 20, 24], [-1, -1, -1, -1]]], "float32"), (4, 1, 1)
        ),
        "labels": np.tile(np.array([[1, -1]], "int32"), (4, 1)),
    }
    model.compile(optimizer="adam")
    history = model.fit(images, targets, batch_size=2, epochs=1, verbose=0)
    logged = history.history
    assert set(detection.rcnn_model.LOSS_NAMES) <= set(logged)
    parts = sum(logged[name][0] for name in detection.rcnn_model.LOSS_NAMES)
    assert logged["loss"][0] == pytest.approx(parts, rel=1e-4)
    path = tmp_path / "faster.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    before, after = model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    for key in ("rois", "class_logits", "box_deltas"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="rois, class_logits and box_deltas"):
        detection.RegionDetector(
            keras.Model(network.input, {"rois": network.output["rois"]})
        )


def test_true_boxes_join_the_training_regions_through_the_networks_own_head():
    network = detection.faster_rcnn_network(
        (32, 32, 1), 3, (8, 16), (1.0,), proposals=8, pool_size=2, rpn_width=8,
        head_width=8, head_dropout=0.0, width=4, stages=(1, 1),
    )  # fmt: skip
    model = detection.RegionDetector(network)
    images = np.random.default_rng(1).uniform(size=(2, 32, 32, 1)).astype("float32")
    boxes = np.array(
        [[[4, 4, 20, 24], [-1, -1, -1, -1]], [[2, 6, 30, 30], [8, 8, 16, 16]]],
        "float32",
    )
    labels = np.array([[2, -1], [0, 1]], "int32")
    early = model(images, training=True)
    assert "features" in early and "class_logits" not in early  # head not run yet
    full = model.add_true_boxes(early, boxes)
    np.testing.assert_array_equal(ops.convert_to_numpy(full["rois"])[:, 8:], boxes)
    # The proposals' rows are what the network itself gives (same weights).
    plain = network(images, training=True)  # batch statistics, as `early`
    for key in ("rois", "class_logits", "box_deltas"):
        np.testing.assert_allclose(
            ops.convert_to_numpy(full[key])[:, :8],
            ops.convert_to_numpy(plain[key]),
            rtol=1e-5,
            atol=1e-6,
        )
    # Each true box is an object of its own class; padding counts nowhere.
    classes, _ = rcnn_losses.region_targets(full["rois"], boxes, labels)
    assert ops.convert_to_numpy(classes)[:, 8:].tolist() == [[3, -1], [1, 2]]
    # The views add no weights (training and saving with them: the round-trip
    # test above), and the flag is in the config.
    assert len(model.weights) == len(network.weights)
    off = detection.RegionDetector(network, true_boxes_as_regions=False)
    assert "class_logits" in off(images, training=True)
    assert not off.get_config()["true_boxes_as_regions"]
    assert model.get_config()["true_boxes_as_regions"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow NMS")
def test_region_decoding_layer_is_decode_region_detections_and_reloads(tmp_path):
    network = detection.fast_rcnn_network(
        (32, 32, 1), 3, 2, width=4, stages=(1, 1), head_width=8
    )
    model = detection.region_inference_model(network, score_threshold=0.0)
    rois = np.array([[[2, 2, 20, 28], [8, 8, 30, 30], [-1, -1, -1, -1]]], "float32")
    inputs = {"images": np.random.default_rng(0).random((1, 32, 32, 1)), "rois": rois}
    got = model.predict(inputs, verbose=0)
    raw = network.predict(inputs, verbose=0)
    expected = detection.decode_region_detections(
        {k: raw[k] for k in ("rois", "class_logits", "box_deltas")}, (32, 32), 0.0
    )
    for key in ("boxes", "scores", "labels", "num_detections"):
        np.testing.assert_allclose(got[key], expected[key].numpy(), atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0)["boxes"], got["boxes"])
    back = detection.without_decoding(loaded).predict(inputs, verbose=0)
    np.testing.assert_allclose(back["class_logits"], raw["class_logits"], atol=1e-5)


def test_every_detector_builds_by_name_and_bad_names_are_refused():
    small = {"width": 4, "stages": (1, 1), "head_width": 8}
    yolo = detection.build("yolo", (28, 28, 1), 3, grid_size=7, **small)
    assert yolo.output.shape == (None, 7, 7, 5 * 2 + 3)
    for name, extra in (
        ("rcnn", {"crop_size": 16}),
        ("fast_rcnn", {"pool_size": 2}),
        ("faster_rcnn", {"pool_size": 2, "anchor_sizes": (8,), "proposals": 4}),
    ):
        net = detection.build(name, (32, 32, 1), 3, **small, **extra)
        assert net.output["class_logits"].shape[-1] == 4, name  # 3 + background
    dense = detection.build("dense", (32, 32, 1), 3, width=4, stages=(1, 1, 1))
    assert dense.output.shape == (None, 4 * 4, 4 + 3)  # the stride-8 map
    assert detection.available() == [
        "dense",
        "fast_rcnn",
        "faster_rcnn",
        "rcnn",
        "yolo",
        "yolov8",
    ]
    with pytest.raises(ValueError, match="`name`"):
        detection.build("ssd", (32, 32, 1), 3)


def test_selective_search_without_opencvs_contrib_modules_says_how_to_fix(monkeypatch):
    import cv2

    # What Ultralytics' opencv-python leaves: cv2 without ximgproc.
    monkeypatch.delattr(cv2, "ximgproc")
    with pytest.raises(ImportError, match="opencv-contrib-python-headless"):
        detection.selective_search(np.zeros((16, 16, 3), "float32"))
