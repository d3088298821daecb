"""A detection run's data: the splits (digit canvases, files, TFDS), the
data summary and `labels.png`, and the splits scored, streamed."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from components import data
from components.checks import invalid_value
from recipes.run import reports
from recipes.run.detection_config import CANVAS_OBJECTS, HARD
from recipes.run.detection_pictures import plot_examples


def load_splits(config):
    """The recipe's splits; with `--overfit-subset N`, N training canvases
    serve as training, validation and test data (the notes' first sanity
    check: a detector that cannot reach a high mAP on the few images it is
    trained on has a bug)."""
    splits = _load_splits(config)
    count = config.overfit_subset
    if not count:
        return splits
    if count > splits.sizes["train"]:
        raise ValueError(
            invalid_value(
                "overfit_subset",
                count,
                f"at most the {splits.sizes['train']} training images",
            )
        )
    stream = splits.stream("train")
    index = stream.index.take(count)
    if stream.decode is None:
        index = index.cache()
    index = index.apply(tf.data.experimental.assert_cardinality(count))
    subset = dataclasses.replace(stream, index=index)
    names = ("train", "validation", "test")
    truth = None
    if splits.truth:
        boxes, labels = splits.truth["train"]
        truth = {name: (boxes[:count], labels[:count]) for name in names}
    originals = None  # the files' own frames, of those same images
    if splits.originals and "train" in splits.originals:
        frames = splits.originals["train"]
        first = dataclasses.replace(
            frames, files=frames.files[:count], sizes=frames.sizes[:count]
        )
        originals = {name: first for name in names}
    decoded = subset.decoded()
    return dataclasses.replace(
        splits,
        train=decoded,
        validation=decoded,
        test=decoded,
        sizes={name: count for name in names},
        streams={name: subset for name in names},
        truth=truth,
        originals=originals,
    )


def _load_splits(config):
    size = config.image_size
    if config.dataset == "canvases":
        return data.load_digit_canvases(
            config.train_images,
            config.validation_images,
            config.test_images,
            canvas_size=size,
            max_objects=config.max_objects or CANVAS_OBJECTS,
            glyph_size=(max(8, size // 6), size * 2 // 5),
            seed=config.seed,
        )
    if config.dataset == "canvases-hard":
        low, high = HARD["glyph_size"]
        return data.load_digit_canvases(
            config.train_images,
            config.validation_images,
            config.test_images,
            canvas_size=size,
            max_objects=config.max_objects or HARD["objects"],
            glyph_size=(max(8, round(size * low)), max(8, round(size * high))),
            seed=config.seed,
            max_iou=HARD["max_iou"],
            background="textured",
        )
    common = {
        "image_size": config.image_size,
        "max_objects": config.max_objects,
        "resize": config.resize,
    }
    if config.dataset.startswith(("coco:", "yolo:")):
        return data.load_detection_files(
            config.dataset,
            seed=config.seed,
            cache=config.cache,
            verbose=min(config.verbose, 1),
            **common,
        )
    return data.load_tfds_detection(
        config.dataset, data_dir=config.data_dir, download=config.download, **common
    )


def report_data(run, splits, count=8):
    """The data summary at load (per split: images, boxes, images without a
    box, the most boxes in an image, boxes cut by the edge, boxes a
    `--max-objects` cap dropped) and `labels.png`: `count` training images
    with the boxes as loaded, to check the labels before a long run."""
    lines = [f"data: {splits.name}, {splits.num_classes} classes"]
    if splits.summary:
        lines += data.summary_lines(splits.summary, run.config.max_objects)
        run.write_json("data_summary.json", splits.summary)
    reports.report(lines)
    plot_examples(
        first_examples(splits, "train", count),
        splits.class_names,
        run.file("labels.png"),
        "training images with their loaded boxes",
    )


def first_examples(splits, split, count):
    """The first `count` examples of a split, unbatched. The index is cut
    before the examples are cached: a cached in-memory split read only in
    part made tf.data warn, on every run, that it discarded the cache."""
    stream = splits.stream(split)
    first = dataclasses.replace(stream, index=stream.index.take(count))
    return data.stream_examples(first)


GALLERY = 12  # test images drawn in gallery.png


@dataclasses.dataclass
class EvaluationSplit:
    """A split to score, streamed: its images are read batch by batch when
    predicted, never held together.

    Attributes:
        images: Batched `tf.data.Dataset` of the images, in order.
        boxes, labels: Every box of every image (NumPy, padded with -1).
        count: Integer. Number of images.
        gallery: The first `GALLERY` images (NumPy), for `gallery.png`.
        batch_size: Integer. The batch of `images`.
    """

    images: tf.data.Dataset
    boxes: np.ndarray
    labels: np.ndarray
    count: int
    gallery: np.ndarray
    batch_size: int

    def arrays(self):
        """Every image as one NumPy array (for selective search, which runs
        on NumPy images: R-CNN and Fast R-CNN)."""
        return np.concatenate(list(self.images.as_numpy_iterator()))


def evaluation_split(splits, split, batch_size=64):
    """The `EvaluationSplit` of one split. Its boxes are every box of the
    files (`splits.truth`) where the source keeps them, even those a
    `--max-objects` cap left out of the training targets; else they are read
    from the examples' targets (no image held)."""
    examples = data.stream_examples(splits.stream(split))
    images = (
        examples.map(lambda e: e["images"])
        .batch(batch_size)
        .with_options(data.pipeline_options())
    )
    if splits.truth and split in splits.truth:
        boxes, labels = splits.truth[split]
    else:
        targets = examples.map(lambda e: e["bounding_boxes"]).batch(1024)
        found = list(targets.as_numpy_iterator())
        boxes = np.concatenate([t["boxes"] for t in found])
        labels = np.concatenate([t["labels"] for t in found])
    gallery = np.stack(
        [e["images"].numpy() for e in first_examples(splits, split, GALLERY)]
    )
    return EvaluationSplit(images, boxes, labels, len(labels), gallery, batch_size)


def ground_truth(splits, split):
    """All `(images, boxes, labels)` of a split as NumPy arrays; the boxes are
    every box of the files (`splits.truth`) where the source keeps them, even
    those a `--max-objects` cap left out of the training targets."""
    images, boxes, labels = [], [], []
    dataset = data.stream_examples(splits.stream(split))
    for batch in dataset.batch(256).as_numpy_iterator():
        images.append(batch["images"])
        boxes.append(batch["bounding_boxes"]["boxes"])
        labels.append(batch["bounding_boxes"]["labels"])
    if splits.truth and split in splits.truth:
        return np.concatenate(images), *splits.truth[split]
    return np.concatenate(images), np.concatenate(boxes), np.concatenate(labels)
