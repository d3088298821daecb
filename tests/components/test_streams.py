"""File sources stream: every box kept, caches reused and rebuilt, bad files named."""

import os

import numpy as np
import pytest
from PIL import Image

from components import data
from components.data.streams import files_key
from tests.own_datasets import write_class_folders

pytestmark = pytest.mark.backend_independent  # TensorFlow-only data code

CROWD = 30  # boxes in every image of the crowded set


def write_crowded_yolo_set(root, count=12, size=(96, 120), seed=0):
    """A YOLO folder whose every image holds `CROWD` small boxes on a grid
    (6 x 5 cells), each box a filled square of the class's colour."""
    rng = np.random.default_rng(seed)
    height, width = size
    os.makedirs(root / "images", exist_ok=True)
    os.makedirs(root / "labels", exist_ok=True)
    (root / "classes.txt").write_text("red\nblue\n")
    colours = ((230, 40, 40), (40, 60, 230))
    for i in range(count):
        pixels = rng.normal(128, 10, (height, width, 3))
        lines = []
        for k in range(CROWD):
            row, col = divmod(k, 6)
            label = int(rng.integers(2))
            x0, y0 = col * 20 + 4, row * 19 + 4
            pixels[y0 : y0 + 12, x0 : x0 + 12] = colours[label]
            cx, cy = (x0 + 6) / width, (y0 + 6) / height
            lines.append(f"{label} {cx} {cy} {12 / width} {12 / height}")
        Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(
            root / "images" / f"{i:02d}.png"
        )
        (root / "labels" / f"{i:02d}.txt").write_text("\n".join(lines) + "\n")


def test_every_box_is_kept_and_a_cap_is_reported(tmp_path):
    write_crowded_yolo_set(tmp_path)
    splits = data.load_detection_files(f"yolo:{tmp_path}", image_size=48)
    assert splits.max_objects == CROWD
    example = next(iter(splits.train.take(1).as_numpy_iterator()))
    assert (example["bounding_boxes"]["labels"] >= 0).sum() == CROWD
    assert splits.summary["train"]["most_boxes_in_an_image"] == CROWD
    assert splits.summary["train"]["boxes_dropped_by_max_objects"] == 0
    capped = data.load_detection_files(f"yolo:{tmp_path}", image_size=48, max_objects=4)
    assert capped.max_objects == 4
    dropped = capped.summary["train"]["boxes_dropped_by_max_objects"]
    assert dropped == capped.sizes["train"] * (CROWD - 4)
    # What detections are scored against keeps every box.
    boxes, labels = capped.truth["test"]
    assert ((labels >= 0).sum(axis=1) == CROWD).all()
    # The boxes follow the resize: 12 of 120 pixels wide -> 4.8 of 48.
    widths = boxes[..., 2] - boxes[..., 0]
    np.testing.assert_allclose(widths[labels >= 0], 12 * 48 / 120, rtol=1e-5)


def _pixels(splits, split="train"):
    return np.concatenate(
        [
            x
            for x, _ in data.stream_examples(splits.stream(split))
            .batch(64)
            .as_numpy_iterator()
        ]
    )


def _image_caches(root):
    """The image caches under `root` (a folder each; the index files aside)."""
    return [n for n in os.listdir(root) if not n.startswith("index-")]


def test_a_disk_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path):
    root, cache = tmp_path / "folders", tmp_path / "cache"
    write_class_folders(root, per_class=8)
    first = data.load_image_folder(
        str(root), image_size=8, cache="disk", cache_root=str(cache)
    )
    fresh = data.load_image_folder(str(root), image_size=8)
    np.testing.assert_array_equal(_pixels(first), _pixels(fresh))
    assert len(_image_caches(cache)) == 3  # a folder per split
    # Change one file's pixels but keep its size and time: a reused cache
    # reads its own bytes, never the file, so the pixels do not move.
    png = root / "red" / "1.png"
    stat = png.stat()
    image = np.asarray(Image.open(png)).copy()
    image[:] = 255 - image
    Image.fromarray(image).save(png)
    with open(png, "r+b") as f:  # same byte count as before
        f.truncate(stat.st_size)
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = data.load_image_folder(
        str(root), image_size=8, cache="disk", cache_root=str(cache)
    )
    np.testing.assert_array_equal(_pixels(again), _pixels(first))
    assert len(_image_caches(cache)) == 3
    # A new time is a changed file: that split's cache is written anew.
    write_class_folders(root, per_class=8, seed=5)
    changed = data.load_image_folder(
        str(root), image_size=8, cache="disk", cache_root=str(cache)
    )
    assert len(_image_caches(cache)) == 6
    assert not np.array_equal(_pixels(changed), _pixels(first))
    # And another setting is another key.
    files = changed.stream("train").files
    assert files_key(files, {"size": 8}) != files_key(files, {"size": 16})


def test_a_warm_disk_cache_reads_no_header_or_label_and_follows_a_changed_label(
    tmp_path, monkeypatch
):
    from components.data import yolo_source

    root = tmp_path / "crowd"
    monkeypatch.setenv("KERAS_NOTES_CACHE", str(tmp_path / "cache"))
    write_crowded_yolo_set(root, count=6)
    cold = yolo_source.load_yolo_detection(str(root), image_size=32, cache="disk")
    # Warm: the index comes from the cache; reading a file would fail.
    read_header, read_labels = yolo_source.read_header, yolo_source._read_yolo_labels

    def no_reading(*args):
        raise AssertionError("read a file the index cache holds")

    monkeypatch.setattr(yolo_source, "read_header", no_reading)
    monkeypatch.setattr(yolo_source, "_read_yolo_labels", no_reading)
    warm = yolo_source.load_yolo_detection(str(root), image_size=32, cache="disk")
    for key in ("train", "validation", "test"):
        for a, b in zip(cold.truth[key], warm.truth[key]):
            np.testing.assert_array_equal(a, b)
    assert warm.summary == cold.summary
    monkeypatch.setattr(yolo_source, "read_header", read_header)
    monkeypatch.setattr(yolo_source, "_read_yolo_labels", read_labels)
    # One label file loses a line: the index is read again, and scored.
    label = sorted((root / "labels").iterdir())[0]
    label.write_text("".join(label.read_text().splitlines(True)[1:]))
    changed = yolo_source.load_yolo_detection(str(root), image_size=32, cache="disk")
    counts = [int((lab >= 0).sum()) for _, lab in changed.truth.values()]
    assert sum(counts) == 6 * CROWD - 1


def test_a_file_damaged_after_the_cache_was_built_is_named(tmp_path):
    root, cache = tmp_path / "folders", tmp_path / "cache"
    write_class_folders(root, per_class=8)
    data.load_image_folder(str(root), image_size=8, cache="disk", cache_root=str(cache))
    jpg = root / "blue" / "2.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])  # the header survives, the pixels not
    with pytest.raises(data.ImageFileError, match=r"2\.jpg") as error:
        data.load_image_folder(
            str(root), image_size=8, cache="disk", cache_root=str(cache)
        )
    assert "\n" not in str(error.value)


def test_streamed_epochs_are_exact_permutations_and_repeat(tmp_path):
    # The epoch-seeded order permutes the index: every file once per epoch,
    # the same order for the same epoch, another for the next.
    root = tmp_path / "folders"
    write_class_folders(root, per_class=8)
    splits = data.load_image_folder(str(root), image_size=8)
    seeds = data.EpochSeeds(0)
    stream = splits.stream("train")
    order = data.shuffle_by_epoch(stream.index, seeds)
    first = [p.decode() for p, _ in order.as_numpy_iterator()]
    assert sorted(first) == sorted(stream.files)
    assert first == [p.decode() for p, _ in order.as_numpy_iterator()]
    seeds.on_epoch_begin(1)
    assert first != [p.decode() for p, _ in order.as_numpy_iterator()]


def test_a_source_without_random_access_is_permuted_block_by_block():
    # TFDS: read in one order, never held whole. Each block of `buffer`
    # elements is permuted from the epoch's seed and the block's position.
    import tensorflow as tf

    seeds = data.EpochSeeds(3)
    dataset = data.Stream(tf.data.Dataset.range(10), shuffle_buffer=4)
    order = data.shuffle_by_epoch(dataset, seeds)
    first = [int(v) for v in order]
    assert sorted(first[:4]) == [0, 1, 2, 3] and sorted(first[4:8]) == [4, 5, 6, 7]
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert first == [int(v) for v in order]
    seeds.on_epoch_begin(1)
    assert first != [int(v) for v in order]


def test_letterboxed_boxes_follow_the_pixels_and_the_saved_model_maps_them_back(
    tmp_path,
):
    import keras

    from components import serving

    # One wide image (120 x 48), one white box on black, letterboxed into 40.
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("box\n")
    pixels = np.zeros((48, 120, 3), "uint8")
    x0, y0, x1, y1 = 30, 12, 90, 36
    pixels[y0:y1, x0:x1] = 255
    for i in range(6):
        Image.fromarray(pixels).save(tmp_path / "images" / f"{i}.png")
        (tmp_path / "labels" / f"{i}.txt").write_text(
            f"0 {(x0 + x1) / 240} {(y0 + y1) / 96} {(x1 - x0) / 120} {(y1 - y0) / 48}\n"
        )
    splits = data.load_detection_files(
        f"yolo:{tmp_path}", image_size=40, resize="letterbox"
    )
    example = next(iter(splits.train.take(1).as_numpy_iterator()))
    image, box = example["images"], example["bounding_boxes"]["boxes"][0]
    rows = np.flatnonzero(image[:, :, 0].max(axis=1) > 0.5)
    cols = np.flatnonzero(image[:, :, 0].max(axis=0) > 0.5)
    # The white pixels lie where the box says (within the resize's blur).
    assert abs(cols.min() - box[0]) <= 1 and abs(cols.max() + 1 - box[2]) <= 1
    assert abs(rows.min() - box[1]) <= 1 and abs(rows.max() + 1 - box[3]) <= 1
    # The aspect is kept: black bands above and below, none at the sides.
    assert image[:3].max() == 0 and box[2] - box[0] == pytest.approx(20, abs=1e-4)
    # The saved model's preprocessing is the same letterbox, and its box
    # scaling takes the box back into the image's own pixels.
    layer = serving.ImagePreprocessing((40, 40), resize="letterbox")
    served = keras.ops.convert_to_numpy(layer(pixels[None]))[0]
    assert np.abs(served - image).max() < 1.5 / 255
    back = serving.ScaleBoxes((40, 40), resize="letterbox")(
        [box[None, None], pixels[None]]
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(back)[0, 0], [x0, y0, x1, y1], atol=1e-3
    )


def test_each_worker_decodes_only_the_rows_the_multi_worker_sharding_keeps():
    # Two workers of two replicas each, global batch 8 over 22 files (the
    # last batch partial). Each worker's pipeline goes through what
    # tf.distribute does under DATA sharding (measured with real workers:
    # split each batch into one run of rows per replica, of its size /
    # replicas rounded up, and keep every other run): together the two
    # keep every example once, in the order one process trains on, none of
    # them a blank; each worker's decoder ran only for the rows it keeps.
    import tensorflow as tf

    decoded = {0: [], 1: []}

    def reader(worker):
        def read(value):
            decoded[worker].append(int(value))
            return value

        def decode(value):
            image = tf.py_function(read, [value], tf.int64)
            image = tf.ensure_shape(image, ()) + 1
            return tf.fill([3], image), value

        return decode

    def batches(worker, share):
        stream = data.Stream(tf.data.Dataset.range(22), reader(worker))
        examples = data.stream_examples(stream, data.EpochSeeds(5), share=share)
        batches = [(x.numpy(), y.numpy()) for x, y in examples.batch(8)]
        if share is None:
            return batches
        runs = []
        for x, y in batches:
            rows = -(-len(y) // 4)
            runs += [(x[i : i + rows], y[i : i + rows]) for i in range(0, 8, rows)]
        return runs[worker::2]

    one_process = np.concatenate([y for _, y in batches(0, None)])
    decoded[0].clear()
    kept = {}
    for worker in (0, 1):
        share = data.WorkerShare(batch_size=8, workers=2, index=worker, replicas=4)
        for step, (images, labels) in enumerate(batches(worker, share)):
            np.testing.assert_array_equal(images[:, 0], labels + 1)  # no blank
            kept[(step, worker)] = labels
    # Step k: worker 0's run of rows, then worker 1's (runs alternate).
    order = np.concatenate([kept[key] for key in sorted(kept)])
    np.testing.assert_array_equal(order, one_process)
    assert sorted(order) == list(range(22))
    for worker in (0, 1):
        mine = np.concatenate([kept[k] for k in kept if k[1] == worker])
        assert sorted(decoded[worker]) == sorted(mine)
    assert len(decoded[0]) + len(decoded[1]) == 22  # each file read once


def test_a_worker_share_needs_a_batch_that_divides_among_the_replicas():
    with pytest.raises(ValueError, match="batch_size.*multiple of the 4 replicas"):
        data.WorkerShare(batch_size=30, workers=2, index=0, replicas=4)
