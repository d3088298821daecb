import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from components import data, detection

SHAPE = (112, 112, 1)


# --- target encoding ---------------------------------------------------------


@st.composite
def boxes_in_distinct_cells(draw, grid=7, size=112):
    cells = draw(
        st.lists(st.integers(0, grid * grid - 1), min_size=0, max_size=8, unique=True)
    )
    cell = size / grid
    boxes = []
    for index in cells:
        row, col = divmod(index, grid)
        cx = (col + draw(st.floats(0.05, 0.95))) * cell
        cy = (row + draw(st.floats(0.05, 0.95))) * cell
        half_w = draw(st.floats(0.5, min(cx, size - cx)))
        half_h = draw(st.floats(0.5, min(cy, size - cy)))
        boxes.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    labels = draw(st.lists(st.integers(0, 9), min_size=len(boxes), max_size=len(boxes)))
    return np.array(boxes, "float32").reshape(-1, 4), np.array(labels, "int32"), cells


@settings(max_examples=40, deadline=None)
@given(boxes_in_distinct_cells())
def test_encoding_then_decoding_gives_the_boxes_back(case):
    boxes, labels, cells = case
    padded = np.full((10, 4), -1.0, "float32")
    padded[: len(boxes)] = boxes
    padded_labels = np.full(10, -1, "int32")
    padded_labels[: len(labels)] = labels
    target = detection.encode_yolo_targets(padded, padded_labels, SHAPE, 7, 10)
    got_boxes, got_labels = detection.decode_yolo_targets(target, SHAPE)
    order = np.argsort(cells)  # decoding lists cells in row-major order
    np.testing.assert_allclose(got_boxes, boxes[order], atol=1e-3)
    np.testing.assert_array_equal(got_labels, labels[order])


def test_two_objects_in_one_cell_keep_the_largest_then_the_first():
    small = [40.0, 40.0, 50.0, 50.0]  # centre (45, 45): cell (2, 2) of 16 px cells
    large = [34.0, 34.0, 56.0, 56.0]  # same centre, larger
    other = [36.0, 41.0, 54.0, 49.0]  # same centre, but padding (label -1)
    target = detection.encode_yolo_targets([small, large], [1, 2], SHAPE, 7, 10)
    _, labels = detection.decode_yolo_targets(target, SHAPE)
    assert labels.tolist() == [2]
    tie = [41.0, 40.0, 49.0, 50.0]  # area 80 vs `tie2` area 80
    tie2 = [40.0, 41.0, 50.0, 49.0]
    target = detection.encode_yolo_targets([tie, tie2, other], [3, 4, -1], SHAPE, 7, 10)
    _, labels = detection.decode_yolo_targets(target, SHAPE)
    assert labels.tolist() == [3]


def test_an_image_with_no_objects_has_an_all_zero_target():
    target = detection.encode_yolo_targets(
        -np.ones((4, 4)), -np.ones(4, "int32"), SHAPE
    )
    assert target.shape == (7, 7, 15) and not np.asarray(target).any()


def test_bad_boxes_get_clear_errors():
    with pytest.raises(ValueError, match="x_max > x_min"):
        detection.check_boxes([[30, 10, 20, 40]], [1], SHAPE, 10)
    with pytest.raises(ValueError, match="inside the 112x112 image"):
        detection.check_boxes([[100, 10, 130, 40]], [1], SHAPE, 10)
    with pytest.raises(ValueError, match="labels.*Received: a label 10"):
        detection.check_boxes([[10, 10, 20, 20]], [10], SHAPE, 10)
    with pytest.raises(ValueError, match="grid_size"):
        detection.encode_yolo_targets([[1.0, 1, 2, 2]], [0], SHAPE, 0, 10)
    with pytest.raises(ValueError, match="boxes_per_cell"):
        detection.YoloLoss(boxes_per_cell=0)
    with pytest.raises(ValueError, match="not a multiple of grid_size=5"):
        detection.yolo_detector(SHAPE, 10, grid_size=5, width=4, stages=(1, 1, 1, 1))


# --- loss ----------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_loss(target, raw, grid, b, lambda_coord=5.0, lambda_noobj=0.5):
    """The paper's loss with plain loops over cells and predictors, term by term."""
    terms = dict.fromkeys(
        ["coordinates", "sizes", "object", "no_object", "classes"], 0.0
    )
    for i in range(grid):
        for j in range(grid):
            t, p = target[i, j], raw[i, j]
            logits = p[5 * b :]
            probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            preds = [_sigmoid(p[5 * k : 5 * k + 5]) for k in range(b)]
            if t[4] == 0:
                terms["no_object"] += lambda_noobj * sum(q[4] ** 2 for q in preds)
                continue
            truth = ((j + t[0]) / grid, (i + t[1]) / grid, t[2], t[3])
            ious = []
            for q in preds:
                box = ((j + q[0]) / grid, (i + q[1]) / grid, q[2] ** 2, q[3] ** 2)
                ious.append(_iou_centre(box, truth))
            r = int(np.argmax(ious))
            for k, q in enumerate(preds):
                if k == r:
                    terms["coordinates"] += lambda_coord * (
                        (q[0] - t[0]) ** 2 + (q[1] - t[1]) ** 2
                    )
                    terms["sizes"] += lambda_coord * (
                        (q[2] - np.sqrt(t[2])) ** 2 + (q[3] - np.sqrt(t[3])) ** 2
                    )
                    terms["object"] += (q[4] - ious[k]) ** 2
                else:
                    terms["no_object"] += lambda_noobj * q[4] ** 2
            terms["classes"] += ((probs - t[5:]) ** 2).sum()
    return terms


def _iou_centre(a, b):
    ax0, ay0, ax1, ay1 = (
        a[0] - a[2] / 2,
        a[1] - a[3] / 2,
        a[0] + a[2] / 2,
        a[1] + a[3] / 2,
    )
    bx0, by0, bx1, by1 = (
        b[0] - b[2] / 2,
        b[1] - b[3] / 2,
        b[0] + b[2] / 2,
        b[1] + b[3] / 2,
    )
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(
        0, min(ay1, by1) - max(ay0, by0)
    )
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_yolo_loss_matches_the_paper_term_by_term():
    rng = np.random.default_rng(0)
    boxes = np.array([[10, 12, 40, 50], [60, 60, 100, 90], [70, 20, 90, 44]], "float32")
    target = detection.encode_yolo_targets(boxes, [1, 4, 7], SHAPE, 7, 10).numpy()
    raw = rng.normal(0, 1.5, (7, 7, 20)).astype("float32")
    # Make the responsible predictor of one object overlap it, so the IoU target
    # is not zero.
    raw[1, 1, 5:7] = 0.0
    loss = detection.YoloLoss(7, 2, 10)
    got = float(loss.call(target[None], raw[None])[0])
    expected = reference_loss(target, raw, 7, 2)
    assert got == pytest.approx(sum(expected.values()), rel=1e-4)
    terms = loss.terms(target[None], raw[None])
    for name, value in expected.items():
        assert float(terms[name][0]) == pytest.approx(value, rel=1e-4, abs=1e-6), name


def _value_and_gradient(function, x):
    if keras.backend.backend() == "jax":
        import jax

        value, gradient = jax.value_and_grad(function)(x)
        return float(value), np.asarray(gradient)
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = function(variable)
    return float(value), tape.gradient(value, variable).numpy()


def test_yolo_loss_is_finite_with_finite_gradients_for_extreme_outputs():
    target = detection.encode_yolo_targets([[10.0, 10, 60, 70]], [3], SHAPE, 7, 10)
    target = np.asarray(target)[None]
    raw = (
        np.random.default_rng(1)
        .choice([-1e4, 0.0, 1e4], (1, 7, 7, 20))
        .astype("float32")
    )
    loss = detection.YoloLoss()
    value, gradient = _value_and_gradient(lambda r: loss(target, r), raw)
    assert np.isfinite(value) and np.isfinite(gradient).all()


def test_yolo_loss_round_trips_its_config():
    loss = detection.YoloLoss(5, 3, 4, lambda_coord=2.0, lambda_noobj=0.25)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert again.get_config() == loss.get_config()


# --- decoding ------------------------------------------------------------------


def test_decoding_scores_boxes_and_suppresses_duplicates():
    raw = np.full((1, 7, 7, 20), -10.0, "float32")  # every confidence ~0
    # Cell (row 3, col 2): both predictors give the same box; class 6 likely.
    box = [
        0.0,
        0.0,
        np.log(0.4 / 0.6),
        np.log(0.5 / 0.5),
        3.0,
    ]  # sqrt w 0.4, sqrt h 0.5
    raw[0, 3, 2, 0:5] = box
    raw[0, 3, 2, 5:10] = box
    raw[0, 3, 2, 10:] = 0.0
    raw[0, 3, 2, 16] = 5.0
    out = detection.decode_predictions(raw, SHAPE, 2, score_threshold=0.3)
    assert int(out["num_detections"][0]) == 1  # the duplicate was suppressed
    probs = np.exp(raw[0, 3, 2, 10:]) / np.exp(raw[0, 3, 2, 10:]).sum()
    assert float(out["scores"][0, 0]) == pytest.approx(
        _sigmoid(3.0) * probs[6], rel=1e-5
    )
    assert int(out["labels"][0, 0]) == 6
    cx, cy, w, h = (2.5 / 7) * 112, (3.5 / 7) * 112, 0.16 * 112, 0.25 * 112
    np.testing.assert_allclose(
        out["boxes"][0, 0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=1e-3
    )


# --- evaluation ----------------------------------------------------------------


def test_coco_evaluation_equals_a_hand_computed_average_precision():
    # One class, two objects; detections: hit (0.9), miss (0.8), hit (0.7).
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]]], "float32")
    truth = detection.coco_ground_truth(boxes, [[0, 0]], (64, 64), ["a"])
    rows = [
        {"image_id": 0, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 0, "category_id": 1, "bbox": [40, 40, 10, 10], "score": 0.8},
        {"image_id": 0, "category_id": 1, "bbox": [20, 20, 10, 10], "score": 0.7},
    ]
    scores = detection.coco_evaluate(truth, rows)
    # Precision envelope: 1 up to recall 0.5, 2/3 up to recall 1; COCO samples
    # 101 recall points: 51 at or below 0.5, 50 above.
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert scores["map50"] == pytest.approx(expected, abs=1e-6)
    assert scores["map"] == pytest.approx(expected, abs=1e-6)  # exact boxes: every IoU
    assert scores["per_class_ap"]["a"] == pytest.approx(scores["map"])


def test_per_class_figures_average_to_pycocotools_map():
    rng = np.random.default_rng(2)
    boxes = np.zeros((5, 3, 4), "float32")
    labels = rng.integers(0, 3, (5, 3)).astype("int32")
    for i in range(5):
        for k in range(3):
            x, y = rng.uniform(0, 80, 2)
            boxes[i, k] = [x, y, x + rng.uniform(8, 30), y + rng.uniform(8, 30)]
    truth = detection.coco_ground_truth(boxes, labels, (112, 112), ["a", "b", "c"])
    detections = {
        "boxes": boxes + rng.normal(0, 2, boxes.shape),
        "scores": rng.uniform(0.1, 1, labels.shape),
        "labels": np.where(rng.random(labels.shape) < 0.8, labels, (labels + 1) % 3),
        "num_detections": np.full(5, 3),
    }
    scores = detection.coco_evaluate(truth, detection.coco_detections(detections))
    per_class = [v for v in scores["per_class_ap"].values() if not np.isnan(v)]
    assert scores["map"] == pytest.approx(np.mean(per_class), abs=1e-9)
    # 2-pixel noise keeps every box above IoU 0.5 but not every box above 0.95,
    # so AP@0.5 beats the mean over IoU thresholds; a fifth of the labels are
    # wrong, so neither reaches 1.
    assert 0.0 < scores["map"] < scores["map50"] < 1.0


# --- data ----------------------------------------------------------------------


@pytest.mark.backend_independent
def test_canvas_boxes_enclose_the_ink_exactly():
    square = np.ones((3, 8, 8, 1), "float32")  # glyphs that are all ink
    options = dict(canvas_size=64, glyph_size=(12, 20), seed=5, progress=False)
    canvases = data.digit_canvases((square, np.array([1, 2, 3])), 6, **options)
    again = data.digit_canvases((square, np.array([1, 2, 3])), 6, **options)
    np.testing.assert_array_equal(canvases["images"], again["images"])
    for image, boxes, labels in zip(
        canvases["images"], canvases["boxes"], canvases["labels"]
    ):
        assert (labels >= 0).sum() >= 1
        detection.check_boxes(boxes, labels, image.shape, 10)
        for box, label in zip(boxes, labels):
            if label < 0:
                continue
            x0, y0, x1, y1 = box.astype(int)
            assert image[y0:y1, x0:x1].min() >= 0.75  # all ink inside
            assert 8 <= x1 - x0 <= 20 and 10 <= y1 - y0 <= 22


@pytest.mark.backend_independent
def test_hard_canvases_hold_many_overlapping_objects_of_varied_size():
    glyphs = data.digits_arrays()
    size, options = 160, dict(canvas_size=160, max_objects=20, progress=False)
    hard = data.digit_canvases(
        glyphs, 40, glyph_size=(8, 60), max_iou=0.3, background="textured", **options
    )
    easy = data.digit_canvases(glyphs, 40, glyph_size=(26, 64), **options)
    counts = (hard["labels"] >= 0).sum(1)
    assert counts.max() > 10 and counts.min() >= 1
    sides, overlaps = [], []
    for image, boxes, labels in zip(hard["images"], hard["boxes"], hard["labels"]):
        kept = boxes[labels >= 0]
        detection.check_boxes(boxes, labels, image.shape, 10)
        sides += np.minimum(kept[:, 2] - kept[:, 0], kept[:, 3] - kept[:, 1]).tolist()
        for i in range(len(kept)):
            for j in range(i):
                overlaps.append(_iou(kept[i], kept[j]))
    assert min(sides) < 0.08 * size and max(sides) > 0.25 * size
    # Overlapping boxes, never beyond the IoU asked for.
    assert 0.05 < max(overlaps) <= 0.3 + 1e-6

    # Textured: the background (outside every box) changes from one 4x4
    # block to the next (block means: the pixel noise averages out), where
    # the smooth one barely does.
    def background_edges(canvases):
        images = canvases["images"][..., 0]
        blocks = images.reshape(len(images), size // 4, 4, size // 4, 4).mean((2, 4))
        free = np.ones(blocks.shape, bool)
        for k, (boxes, labels) in enumerate(zip(canvases["boxes"], canvases["labels"])):
            for x0, y0, x1, y1 in boxes[labels >= 0]:
                free[
                    k, int(y0) // 4 : -(-int(y1) // 4), int(x0) // 4 : -(-int(x1) // 4)
                ] = False
        steps = np.abs(np.diff(blocks, axis=2))
        return steps[free[:, :, 1:] & free[:, :, :-1]].mean()

    assert background_edges(hard) > 1.5 * background_edges(easy)
    with pytest.raises(ValueError, match="background"):
        data.digit_canvases(glyphs, 1, background="plaid", **options)


def _iou(a, b):
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(
        0, min(a[3], b[3]) - max(a[1], b[1])
    )
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.mark.backend_independent
def test_test_canvases_draw_only_test_handwriting(monkeypatch):
    from components.data import canvases as module

    real, seen = module.digit_canvases, []

    def record(glyphs, count, *args, **kwargs):
        seen.append(glyphs[0])
        return real(glyphs, count, *args, **kwargs)

    monkeypatch.setattr(module, "digit_canvases", record)
    data.load_digit_canvases(
        2, 2, 2, canvas_size=32, glyph_size=(8, 12), progress=False
    )
    images, _ = data.digits_arrays()
    parts = data.digits_split_indices(seed=0)
    for index, split in enumerate(("train", "validation", "test")):
        np.testing.assert_array_equal(seen[index], images[parts[split]])
    assert not set(parts["test"]) & (set(parts["train"]) | set(parts["validation"]))


def _one_box_batch(rects, height, width):
    """Images each holding one filled rectangle `(x, y, w, h)`, its box and
    label (the image's index), and a padding row after it."""
    count = len(rects)
    images = np.zeros((count, height, width, 1), "float32")
    boxes = np.full((count, 2, 4), -1.0, "float32")
    labels = np.full((count, 2), -1, "int32")
    for i, (x, y, w, h) in enumerate(rects):
        images[i, y : y + h, x : x + w] = 1.0
        boxes[i, 0] = [x, y, x + w, y + h]
        labels[i, 0] = i
    return images, boxes, labels


def test_box_augmentation_moves_boxes_with_the_pixels():
    rng = np.random.default_rng(0)
    rects = [(*rng.integers(12, 36, 2), *rng.integers(10, 16, 2)) for _ in range(8)]
    images, boxes, labels = _one_box_batch(rects, 64, 64)
    augment = data.build_box_augmentation(translate=0.1, zoom=0.15, seed=3)
    batch = {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    # In a tf.data pipeline, where it runs (on any Keras backend).
    out = next(iter(tf.data.Dataset.from_tensors(batch).map(augment)))
    moved = out["bounding_boxes"]["boxes"].numpy()
    assert out["bounding_boxes"]["labels"].numpy()[:, 1].tolist() == [-1] * 8
    assert not np.allclose(moved[:, 0], boxes[:, 0])
    for i in range(8):
        ys, xs = np.nonzero(out["images"].numpy()[i, ..., 0] > 0.5)
        ink = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(moved[i, 0], ink, atol=1.5)


def test_box_augmentation_flip_mirrors_half_the_images_and_their_boxes():
    rng = np.random.default_rng(1)
    rects = [(rng.integers(2, 40), rng.integers(2, 20), 18, 12) for _ in range(32)]
    images, boxes, labels = _one_box_batch(rects, 40, 64)
    augment = data.build_box_augmentation(translate=0.0, zoom=0.0, flip=True, seed=5)
    batch = {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    out = next(iter(tf.data.Dataset.from_tensors(batch).map(augment)))
    pixels, moved = out["images"].numpy(), out["bounding_boxes"]["boxes"].numpy()
    mirrored = [bool(np.array_equal(pixels[i], images[i, :, ::-1])) for i in range(32)]
    # Each image is itself or its mirror, the box following its pixels.
    for i in range(32):
        assert mirrored[i] or np.array_equal(pixels[i], images[i])
        x0, y0, x1, y1 = boxes[i, 0]
        expected = [64 - x1, y0, 64 - x0, y1] if mirrored[i] else boxes[i, 0]
        np.testing.assert_allclose(moved[i, 0], expected, atol=1e-4)
    assert 8 <= sum(mirrored) <= 24  # about half, drawn per image
    assert out["bounding_boxes"]["labels"].numpy()[:, 1].tolist() == [-1] * 32


@pytest.mark.backend_independent
def test_tfds_detection_loader_on_mock_voc(tmp_path):
    import tensorflow_datasets as tfds

    def examples(self, split, **kwargs):
        rng = np.random.default_rng(len(str(split)))
        rows = []
        for _ in range(4):
            count = int(rng.integers(0, 3))
            rows.append(
                {
                    "image": rng.integers(0, 255, (40, 60, 3)).astype("uint8"),
                    "objects": {
                        "bbox": np.tile([[0.1, 0.2, 0.5, 0.6]], (count, 1)).astype(
                            "float32"
                        ),
                        "label": np.arange(count).astype("int64"),
                    },
                }
            )
        return tf.data.Dataset.from_generator(
            lambda: iter(rows),
            output_signature={
                "image": tf.TensorSpec((None, None, 3), tf.uint8),
                "objects": {
                    "bbox": tf.TensorSpec((None, 4), tf.float32),
                    "label": tf.TensorSpec((None,), tf.int64),
                },
            },
        ).apply(tf.data.experimental.assert_cardinality(4))

    with tfds.testing.mock_data(as_dataset_fn=examples):
        splits = data.load_tfds_detection(
            "tfds:voc:2007", image_size=32, data_dir=str(tmp_path)
        )
        batch = next(iter(splits.test.batch(4)))
        capped = data.load_tfds_detection(
            "tfds:voc:2007", image_size=32, max_objects=1, data_dir=str(tmp_path)
        )
    assert splits.num_classes == 20 and splits.image_shape == (32, 32, 3)
    assert splits.class_names[0] == "aeroplane"
    labels = batch["bounding_boxes"]["labels"].numpy()
    boxes = batch["bounding_boxes"]["boxes"].numpy()
    # Padded to the most objects of any image (counted from the labels), so
    # every box is kept; a cap says what it drops.
    most = max(part["most_boxes_in_an_image"] for part in splits.summary.values())
    assert labels.shape == (4, most) and splits.max_objects == most == 2
    assert (labels >= 0).sum() == splits.summary["test"]["boxes"]
    # At most two boxes an image: a cap of one drops one box of each image with two.
    assert capped.max_objects == 1
    for part in capped.summary.values():
        with_boxes = part["images"] - part["images_without_boxes"]
        assert part["boxes_dropped_by_max_objects"] == part["boxes"] - with_boxes
    # Relative [y0, x0, y1, x1] = [0.1, 0.2, 0.5, 0.6] -> xyxy pixels at 32x32.
    for box, label in zip(boxes.reshape(-1, 4), labels.reshape(-1)):
        if label >= 0:
            np.testing.assert_allclose(box, [6.4, 3.2, 19.2, 16.0], atol=1e-4)
        else:
            assert (box == -1).all()
    with pytest.raises(ValueError, match="not an object-detection dataset"):
        data.load_tfds_detection("mnist", image_size=32, data_dir=str(tmp_path))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow NMS")
def test_yolo_decoding_layer_is_decode_predictions_and_survives_a_reload(tmp_path):
    network = detection.yolo_detector(
        (56, 56, 1), 10, width=4, stages=(1, 1, 1), head_width=8
    )
    model = detection.yolo_inference_model(network, score_threshold=0.0)
    x = np.random.default_rng(0).random((3, 56, 56, 1)).astype("float32")
    got = model.predict(x, verbose=0)
    expected = detection.decode_predictions(
        network.predict(x, verbose=0), (56, 56), 2, 0.0
    )
    for key in ("boxes", "scores", "labels", "num_detections"):
        np.testing.assert_allclose(got[key], expected[key].numpy(), atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0)["boxes"], got["boxes"], atol=1e-5
    )
    raw = detection.without_decoding(loaded)
    assert raw.output.shape == (None, 7, 7, 20)
    with pytest.raises(ValueError, match="`score_threshold`"):
        detection.YoloDecoding((56, 56), score_threshold=2.0)
    with pytest.raises(ValueError, match="`image_shape`"):
        detection.YoloDecoding((0, 56))


def test_tensorflow_decoding_steps_equal_the_training_code():
    # postprocess.py repeats two steps of the training code in TensorFlow ops
    # (so the decoding runs under any backend): the same numbers, big deltas
    # (clipped) included.
    from components.detection import anchors, postprocess, yolo_loss

    rng = np.random.default_rng(0)
    raw = rng.normal(0, 3, (2, 7, 7, 13)).astype("float32")
    for ours, theirs in zip(
        postprocess._split(tf.constant(raw), 2), yolo_loss.split_predictions(raw, 2)
    ):
        np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), atol=1e-6)
    corners = rng.uniform(0, 50, (5, 3, 2)).astype("float32")
    sizes = rng.uniform(1, 40, (5, 3, 2)).astype("float32")
    boxes = np.concatenate([corners, corners + sizes], -1)
    deltas = rng.normal(0, 30, (5, 3, 4)).astype("float32")
    np.testing.assert_allclose(
        postprocess._decode_deltas(tf.constant(boxes), tf.constant(deltas)).numpy(),
        np.asarray(anchors.decode_deltas(boxes, deltas)),
        rtol=1e-5,
        atol=1e-3,
    )
