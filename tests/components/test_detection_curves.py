"""Detection curves and confusion matrix against hand counts and pycocotools."""

import numpy as np
import pytest

from components import detection
from components.detection import curves

NAMES = ["cat", "dog", "bird"]  # no bird anywhere: its rows must be NaN


def _row(image, label, box, score):
    x0, y0, x1, y1 = box
    return {
        "image_id": image,
        "category_id": label + 1,
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "score": score,
    }


def _truth(objects, names=NAMES):
    """`objects`: per image a list of (xyxy box, label)."""
    most = max(1, max(len(o) for o in objects))
    boxes = np.full((len(objects), most, 4), -1.0)
    labels = np.full((len(objects), most), -1)
    for i, image in enumerate(objects):
        for j, (box, label) in enumerate(image):
            boxes[i, j], labels[i, j] = box, label
    return detection.coco_ground_truth(boxes, labels, (100, 100), names)


# Image 0: a cat and a dog; image 1: a cat, never detected; image 2: empty.
HAND_TRUTH = _truth(
    [
        [([0, 0, 20, 20], 0), ([50, 50, 80, 80], 1)],
        [([10, 10, 40, 40], 0)],
        [],
    ]
)
HAND_ROWS = [
    _row(0, 0, [0, 0, 20, 20], 0.95),  # cat TP
    _row(0, 0, [1, 1, 20, 20], 0.65),  # duplicate of that cat: FP
    _row(0, 0, [50, 50, 80, 80], 0.75),  # "cat" on the dog: FP for cat
    _row(0, 1, [50, 50, 80, 79], 0.55),  # dog TP
    _row(2, 1, [5, 5, 25, 25], 0.85),  # dog on an empty image: FP
    _row(2, 0, [70, 70, 90, 90], 0.15),  # cat on an empty image: FP
]


def test_hand_counts_at_chosen_confidences():
    # Scores sit between grid points (confidence k / 100), so no ties there.
    result = curves.operating_curves(HAND_TRUTH, HAND_ROWS, points=101)
    assert result["class_names"] == ("cat", "dog", "bird")
    np.testing.assert_allclose(result["confidence"], np.arange(101) / 100)
    p, r, f1 = result["precision"], result["recall"], result["f1"]
    # confidence: (cat P, R, F1), (dog P, R, F1), by hand from the rows above;
    # 2 cats and 1 dog in the ground truth.
    expected = {
        0: ((1 / 4, 1 / 2, 1 / 3), (1 / 2, 1, 2 / 3)),
        50: ((1 / 3, 1 / 2, 2 / 5), (1 / 2, 1, 2 / 3)),
        60: ((1 / 3, 1 / 2, 2 / 5), (0, 0, 0)),
        70: ((1 / 2, 1 / 2, 1 / 2), (0, 0, 0)),
        90: ((1, 1 / 2, 2 / 3), (1, 0, 0)),
        96: ((1, 0, 0), (1, 0, 0)),  # nothing kept: precision 1 by convention
    }
    for index, (cat, dog) in expected.items():
        for k, (pk, rk, fk) in enumerate((cat, dog)):
            assert (p[k, index], r[k, index], f1[k, index]) == pytest.approx(
                (pk, rk, fk), abs=1e-12
            ), (index, k)
    assert np.isnan(p[2]).all() and np.isnan(r[2]).all() and np.isnan(f1[2]).all()
    # Mean F1 over cat and dog: 1/2 up to 0.15, 8/15 from 0.16 to 0.55.
    assert result["best_confidence"] == pytest.approx(0.16)
    assert result["precision_at_best"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert result["recall_at_best"] == pytest.approx(3 / 4)
    assert result["f1_at_best"] == pytest.approx((2 / 5 + 2 / 3) / 2)
    # Cat's precision after each detection by falling score: 1, 1/2, 1/3, 1/4
    # at recall 1/2; AP holds 1 on 51 of COCO's 101 recall points.
    np.testing.assert_allclose(result["pr_recall"][0], [0.5] * 4)
    np.testing.assert_allclose(result["pr_precision"][0], [1, 1 / 2, 1 / 3, 1 / 4])
    np.testing.assert_allclose(result["pr_precision"][1], [1 / 2, 1 / 2])  # envelope
    np.testing.assert_allclose(result["ap"][:2], [51 / 101, 1 / 2])
    assert np.isnan(result["ap"][2]) and result["pr_recall"][2].size == 0


def test_no_detections_at_all():
    result = curves.operating_curves(HAND_TRUTH, [], points=5)
    assert (result["precision"][:2] == 1).all() and (result["recall"][:2] == 0).all()
    assert (result["f1"][:2] == 0).all() and np.isnan(result["f1"][2]).all()
    np.testing.assert_array_equal(result["ap"][:2], [0.0, 0.0])
    assert result["best_confidence"] == 0.0 and result["f1_at_best"] == 0.0


def _random_case(seed=0, images=30, classes=3):
    rng = np.random.default_rng(seed)
    objects, rows = [], []
    for image in range(images):
        found = []
        for _ in range(rng.integers(0, 5)):
            x0, y0 = rng.uniform(0, 70, 2)
            w, h = rng.uniform(8, 30, 2)
            box, label = [x0, y0, x0 + w, y0 + h], int(rng.integers(classes))
            found.append((box, label))
            for _ in range(rng.choice([0, 1, 1, 1, 2])):  # missed, found, doubled
                jitter = np.array(box) + rng.normal(0, 0.12 * min(w, h), 4)
                guess = label if rng.random() < 0.8 else int(rng.integers(classes))
                rows.append(_row(image, guess, jitter, float(rng.random())))
        for _ in range(rng.integers(0, 3)):  # background
            x0, y0 = rng.uniform(0, 80, 2)
            box = [x0, y0, x0 + rng.uniform(5, 20), y0 + rng.uniform(5, 20)]
            rows.append(
                _row(image, int(rng.integers(classes)), box, float(rng.random()))
            )
        objects.append(found)
    truth = _truth(objects, NAMES[:classes])
    for annotation in truth["annotations"][::9]:  # crowds: ignored, not missed
        annotation["iscrowd"] = 1
    return truth, rows


def test_ap_equals_pycocotools_per_class():
    truth, rows = _random_case()
    reference = detection.coco_evaluate(truth, rows)
    per_iou = []
    for iou in np.linspace(0.5, 0.95, 10):
        ap = curves.operating_curves(truth, rows, iou_threshold=float(iou), points=11)[
            "ap"
        ]
        per_iou.append(ap)
    np.testing.assert_allclose(
        per_iou[0], [reference["per_class_ap50"][n] for n in NAMES], rtol=0, atol=1e-9
    )
    # pycocotools' per-class AP over IoU 0.50:0.95 is the mean of the ten.
    np.testing.assert_allclose(
        np.mean(per_iou, axis=0),
        [reference["per_class_ap"][n] for n in NAMES],
        rtol=0,
        atol=1e-9,
    )
    assert 0.1 < per_iou[0].min() and per_iou[0].max() < 0.95  # not a trivial case


def test_recall_with_everything_kept_equals_pycocotools():
    from tests.components.test_coco_eval import one_pycocotools_evaluation

    truth, rows = _random_case(seed=1)
    evaluation = one_pycocotools_evaluation(truth, rows)
    result = curves.operating_curves(truth, rows, points=11)
    np.testing.assert_allclose(
        result["recall"][:, 0], evaluation.eval["recall"][0, :, 0, -1], atol=1e-12
    )


def test_confusion_matrix_hand_case():
    truth = _truth(
        [
            [([0, 0, 20, 20], 0), ([50, 50, 80, 80], 1), ([0, 50, 20, 80], 0)],
            [],
            [([30, 30, 60, 60], 1)],
        ],
        ["a", "b"],
    )
    rows = [
        _row(0, 0, [0, 0, 20, 21], 0.9),  # right: [a, a]
        _row(0, 0, [50, 50, 80, 78], 0.8),  # wrong class: [a, b]
        _row(0, 1, [85, 0, 99, 10], 0.7),  # nothing there: [b, background]
        _row(0, 1, [0, 50, 20, 80], 0.1),  # under the threshold: the a is missed
        _row(1, 0, [5, 5, 25, 25], 0.5),  # empty image: [a, background]
    ]  # image 2's b: missed, [background, b]
    matrix = curves.confusion_matrix(truth, rows)
    assert matrix.dtype.kind == "i"
    np.testing.assert_array_equal(matrix, [[1, 1, 1], [0, 0, 1], [1, 1, 0]])
    lower = curves.confusion_matrix(truth, rows, score_threshold=0.05)
    np.testing.assert_array_equal(lower, [[1, 1, 1], [1, 0, 1], [0, 1, 0]])


def test_confusion_matrix_pairs_one_to_one_by_iou():
    truth = _truth([[([0, 0, 20, 20], 0), ([5, 0, 25, 20], 1)]], ["a", "b"])
    # IoUs: first-a 1.0, second-a 0.82, second-b 0.74, first-b 0.6. Greedy
    # pairs first-a, then second-b (taking each detection's best object, then
    # deduplicating objects, would leave the second unpaired and the b missed).
    rows = [_row(0, 0, [0, 0, 20, 20], 0.9), _row(0, 1, [2, 0, 22, 20], 0.8)]
    np.testing.assert_array_equal(
        curves.confusion_matrix(truth, rows), [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    )
    # Two detections, one object: the better one pairs, the other is background.
    twice = [_row(0, 0, [0, 0, 20, 20], 0.9), _row(0, 0, [1, 0, 20, 20], 0.8)]
    single = _truth([[([0, 0, 20, 20], 0)]], ["a", "b"])
    np.testing.assert_array_equal(
        curves.confusion_matrix(single, twice), [[1, 0, 1], [0, 0, 0], [0, 0, 0]]
    )


def test_plots_write_pngs(tmp_path):
    result = curves.operating_curves(HAND_TRUTH, HAND_ROWS, points=101)
    matrix = curves.confusion_matrix(HAND_TRUTH, HAND_ROWS)
    paths = [tmp_path / f"{n}.png" for n in ("pr", "f1", "cm", "counts")]
    curves.plot_pr_curves(result, paths[0])
    curves.plot_f1_curves(result, paths[1])
    curves.plot_confusion_matrix(matrix, result["class_names"], paths[2])
    curves.plot_confusion_matrix(matrix, NAMES, paths[3], normalize=False)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


@pytest.mark.parametrize(
    "call, argument",
    [
        (
            lambda: curves.operating_curves(HAND_TRUTH, HAND_ROWS, iou_threshold=0),
            "iou_threshold",
        ),
        (
            lambda: curves.operating_curves(HAND_TRUTH, HAND_ROWS, iou_threshold=1.5),
            "iou_threshold",
        ),
        (lambda: curves.operating_curves(HAND_TRUTH, HAND_ROWS, points=1), "points"),
        (lambda: curves.operating_curves(HAND_TRUTH, HAND_ROWS, points=2.5), "points"),
        (lambda: curves.operating_curves([HAND_TRUTH], HAND_ROWS), "ground_truth"),
        (
            lambda: curves.operating_curves(
                HAND_TRUTH, [_row(7, 0, [0, 0, 1, 1], 1.0)]
            ),
            "detections",
        ),
        (
            lambda: curves.confusion_matrix(
                HAND_TRUTH, [_row(0, 5, [0, 0, 1, 1], 1.0)]
            ),
            "detections",
        ),
        (
            lambda: curves.confusion_matrix(
                HAND_TRUTH, HAND_ROWS, score_threshold=-0.1
            ),
            "score_threshold",
        ),
        (
            lambda: curves.confusion_matrix(HAND_TRUTH, HAND_ROWS, iou_threshold="0.5"),
            "iou_threshold",
        ),
        (
            lambda: curves.plot_confusion_matrix(np.ones((3, 3)), NAMES, "x.png"),
            "matrix",
        ),
        (
            lambda: curves.plot_confusion_matrix(-np.ones((4, 4)), NAMES, "x.png"),
            "matrix",
        ),
        (lambda: curves.plot_pr_curves({"ap": []}, "x.png"), "curves"),
        (lambda: curves.plot_f1_curves(None, "x.png"), "curves"),
    ],
)
def test_bad_input_names_the_argument(call, argument, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a plot that wrongly went ahead writes here
    with pytest.raises(ValueError, match=f"argument `{argument}`"):
        call()
    assert not list(tmp_path.iterdir())


def test_exported_from_the_package():
    for name in (
        "operating_curves",
        "confusion_matrix",
        "plot_pr_curves",
        "plot_f1_curves",
        "plot_confusion_matrix",
    ):
        # Not `is`: pytest's doctest run may import curves.py a second time.
        exported = getattr(detection, name)
        assert (exported.__module__, exported.__name__) == (curves.__name__, name)
        assert name in detection.__all__
