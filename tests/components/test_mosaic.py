import numpy as np
import pytest
import tensorflow as tf

from components import data


def _bilinear(image, x, y):
    """`image` (H, W) sampled at pixel index `(x, y)`, zero outside."""
    height, width = image.shape
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    value = 0.0
    for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
        for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
            row, col = y0 + dy, x0 + dx
            if 0 <= row < height and 0 <= col < width:
                value += wy * wx * image[row, col]
    return value


def reference_mosaic(images, join, magnification):
    """Hand computation of one mosaic: for each output pixel, the canvas
    point it shows, the quadrant that point is in, and that image sampled."""
    _, height, width = images.shape
    size = np.array([width, height], float)
    origin = size - size / (2 * magnification)
    out = np.zeros((height, width))
    for row in range(height):
        for col in range(width):
            point = origin + (np.array([col, row]) + 0.5) / magnification
            right, below = point[0] >= join[0], point[1] >= join[1]
            if not (0 <= point[0] < 2 * width and 0 <= point[1] < 2 * height):
                continue
            k = 2 * below + right
            corner = join - size * (1 - np.array([right, below]))
            x, y = point - corner - 0.5
            out[row, col] = _bilinear(images[k], x, y)
    return out


@pytest.mark.parametrize("magnification", [0.5, 0.8, 1.0, 1.37])
def test_tile_four_matches_a_hand_computation(magnification):
    rng = np.random.default_rng(int(magnification * 100))
    images = rng.random((4, 12, 16)).astype("float32")
    join = np.array([rng.uniform(8, 24), rng.uniform(6, 18)])
    boxes = -np.ones((1, 4, 1, 4), "float32")
    labels = -np.ones((1, 4, 1), "int32")
    tiled, _, _ = data.tile_four(
        images[None, ..., None], boxes, labels, join[None], np.array([magnification])
    )
    expected = reference_mosaic(images, join, magnification)
    np.testing.assert_allclose(tiled.numpy()[0, ..., 0], expected, atol=1e-5)


def _rectangle_images(rng, count, height, width):
    """Four images per mosaic, each one rectangle drawn in its own channel,
    with the rectangle's box: where a box lands can be read off the pixels."""
    images = np.zeros((count, 4, height, width, 4), "float32")
    boxes = np.zeros((count, 4, 1, 4), "float32")
    for n in range(count):
        for k in range(4):
            w, h = rng.integers(6, width // 2), rng.integers(6, height // 2)
            x0, y0 = rng.integers(0, width - w), rng.integers(0, height - h)
            images[n, k, y0 : y0 + h, x0 : x0 + w, k] = 1.0
            boxes[n, k, 0] = (x0, y0, x0 + w, y0 + h)
    labels = np.tile(np.arange(4, dtype="int32")[None, :, None], (count, 1, 1))
    return images, boxes, labels


def test_mosaic_boxes_follow_the_pixels_and_none_is_dropped_silently():
    rng = np.random.default_rng(0)
    count, height, width = 64, 48, 64
    images, boxes, labels = _rectangle_images(rng, count, height, width)
    join = rng.uniform(0.5, 1.5, (count, 2)) * [width, height]
    magnification = rng.uniform(0.5, 1.5, count)
    tiled, out_boxes, out_labels = data.tile_four(
        images, boxes, labels, join, magnification, min_side=2.0, min_visible=0.1
    )
    tiled, out_boxes, out_labels = tiled.numpy(), out_boxes.numpy(), out_labels.numpy()
    assert out_boxes.shape == (count, 4, 4) and out_labels.shape == (count, 4)
    kept = dropped = 0
    for n in range(count):
        for k in range(4):
            ink = tiled[n, ..., k] > 0.5
            label = out_labels[n, k]
            scaled_area = np.prod(boxes[n, k, 0, 2:] - boxes[n, k, 0, :2])
            scaled_area *= magnification[n] ** 2
            if label < 0:
                dropped += 1
                # Dropped: too little of it shows (or too thin a sliver).
                rows, cols = np.nonzero(ink)
                if len(rows):
                    sides = (cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)
                    assert ink.sum() <= 0.1 * scaled_area + 2 * sum(sides) or (
                        min(sides) <= 3
                    )
                continue
            kept += 1
            assert label == k
            x0, y0, x1, y1 = out_boxes[n, k]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            # The box holds its rectangle's ink, and the ink its box.
            inside = ink[int(np.ceil(y0)) : int(y1), int(np.ceil(x0)) : int(x1)]
            assert inside.mean() > 0.99
            rows, cols = np.nonzero(ink)
            assert abs(cols.min() - x0) <= 1 and abs(cols.max() + 1 - x1) <= 1
            assert abs(rows.min() - y0) <= 1 and abs(rows.max() + 1 - y1) <= 1
    # Both outcomes occur in these draws: the checks above were exercised.
    assert kept > 100 and dropped > 10


def _examples(count, rows=2, size=16):
    """Distinct images, one box each: image i has i + 1 in its first channel
    and 1 in its second, so their ratio names the image in any blend with
    the black fill."""
    images = np.zeros((count, size, size, 3), "float32")
    images[..., 0] = np.arange(1, count + 1)[:, None, None]
    images[..., 1] = 1.0
    boxes = -np.ones((count, rows, 4), "float32")
    boxes[:, 0] = (2.0, 3.0, 12.0, 14.0)
    labels = -np.ones((count, rows), "int32")
    labels[:, 0] = np.arange(count) % 3
    return tf.data.Dataset.from_tensor_slices(
        {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    )


def _epoch(dataset):
    return list(dataset.as_numpy_iterator())


def test_mosaic_tiles_until_close_then_passes_whole_images_through():
    seeds = data.EpochSeeds(3)
    source = _examples(10)
    tiled = data.mosaic(source, seeds, epochs=2)
    assert int(tiled.cardinality()) == 10
    originals = _epoch(source)
    for epoch in range(3):
        seeds.on_epoch_begin(epoch)
        first, again = _epoch(tiled), _epoch(tiled)
        assert len(first) == 10
        for a, b in zip(first, again):  # a resumed epoch repeats its draws
            np.testing.assert_array_equal(a["images"], b["images"])
            np.testing.assert_array_equal(
                a["bounding_boxes"]["boxes"], b["bounding_boxes"]["boxes"]
            )
        for got, original in zip(first, originals):
            boxes = got["bounding_boxes"]["boxes"]
            assert boxes.shape == (8, 4)  # 4 x M rows in every epoch
            if epoch < 2:
                assert not np.array_equal(got["images"], original["images"])
                continue
            np.testing.assert_array_equal(got["images"], original["images"])
            np.testing.assert_array_equal(
                boxes[:2], original["bounding_boxes"]["boxes"]
            )
            assert (boxes[2:] == -1).all()
            assert (got["bounding_boxes"]["labels"][2:] == -1).all()
    # Each mosaic is tiled from its own group of four consecutive (shuffled)
    # examples; the short last group (10 = 4 + 4 + 2) from its own two.
    seeds.on_epoch_begin(0)
    for index, got in enumerate(_epoch(tiled)):
        group = set(range(4 * (index // 4) + 1, min(4 * (index // 4) + 4, 10) + 1))
        pixels = got["images"]
        shown = pixels[..., 1] > 1e-3
        names = set(np.round(pixels[..., 0][shown] / pixels[..., 1][shown], 3))
        assert names and names <= group, (index, names, group)


def test_mosaic_without_a_close_tiles_every_epoch_and_different_epochs_differ():
    seeds = data.EpochSeeds(0)
    tiled = data.mosaic(_examples(8), seeds)
    seeds.on_epoch_begin(40)
    late = _epoch(tiled)
    seeds.on_epoch_begin(41)
    later = _epoch(tiled)
    originals = _epoch(_examples(8))
    assert not any(
        np.array_equal(a["images"], b["images"]) for a, b in zip(late, originals)
    )
    assert not all(
        np.array_equal(a["images"], b["images"]) for a, b in zip(late, later)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"magnification": (0.0, 1.0)}, "magnification"),
        ({"magnification": (1.5, 0.5)}, "magnification"),
        ({"epochs": -1}, "epochs"),
        ({"min_visible": 2.0}, "min_visible"),
    ],
)
def test_mosaic_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.mosaic(_examples(4), data.EpochSeeds(0), **kwargs)


def test_mosaic_needs_one_image_size():
    ragged = tf.data.Dataset.from_generator(
        lambda: iter(()),
        output_signature={
            "images": tf.TensorSpec((None, None, 3), tf.float32),
            "bounding_boxes": {
                "boxes": tf.TensorSpec((2, 4), tf.float32),
                "labels": tf.TensorSpec((2,), tf.int32),
            },
        },
    )
    with pytest.raises(ValueError, match="images of one size"):
        data.mosaic(ragged, data.EpochSeeds(0))
