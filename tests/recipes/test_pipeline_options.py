"""Every tf.data pipeline the recipes hand to Keras runs without tf.data's
autotuning model (`components.data.pipeline_options`).

With the model on, the end of an epoch under `fit` often waited for the
model thread's next wake-up (at 10 ms x (2^k - 1) after the iterator
started): one pass of 16 steps took 2.55 s instead of 1.5, an epoch of 22 s
took 41. Timing is the benchmark's to show (`python -m benchmarks.throughput
--paths project project-autotune pytorch`); this checks that no pipeline brings the
model back, and that the sharding the multi-worker strategy needs stays.
"""

import numpy as np
import pytest
import tensorflow as tf

from components import data
from recipes import rcnn, yolo
from recipes.run import detecting, flags

# 56 px needs VGG stages that give a 7x7 map for the grid (the pipeline's
# targets are the detector's).
DETECTION = [
    "--quick",
    "--image-size",
    "56",
    "--stages",
    "1,1,1",
    "--train-images",
    "16",
    "--validation-images",
    "8",
    "--test-images",
    "8",
    "--batch-size",
    "4",
]


def assert_tuned_by_hand(dataset):
    options = dataset.options()
    assert options.autotune.enabled is False
    assert (
        options.experimental_distribute.auto_shard_policy
        == tf.data.experimental.AutoShardPolicy.DATA
    )
    next(iter(dataset))  # and it still runs


def test_the_options_turn_the_model_off_and_shard_by_element():
    dataset = tf.data.Dataset.range(4).with_options(data.pipeline_options())
    assert_tuned_by_hand(dataset)
    # Left alone, tf.data tunes (what the options change).
    assert tf.data.Dataset.range(4).options().autotune.enabled is not False


@pytest.mark.parametrize("training", [True, False])
def test_classification_pipelines(training):
    x = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    y = np.arange(20) % 3
    source = tf.data.Dataset.from_tensor_slices((x, y))
    pipeline = data.make_pipeline(
        source,
        4,
        training=training,
        seed=0,
        augment=["flip"] if training else None,
        input_shape=(8, 8, 1),
    )
    assert_tuned_by_hand(pipeline)


@pytest.mark.parametrize("split", ["train", "validation"])
def test_yolo_pipelines(split):
    config, _ = flags.parse_config(yolo.Config, DETECTION, "", "", yolo.QUICK)
    splits = yolo.load_splits(config)
    seeds = data.EpochSeeds(0) if split == "train" else None
    assert_tuned_by_hand(yolo.make_pipeline(config, splits, split, seeds))
    # What validation mAP and the test scores predict on.
    assert_tuned_by_hand(detecting.evaluation_split(splits, split, 4).images)


@pytest.mark.parametrize("split", ["train", "validation"])
def test_faster_rcnn_pipelines(split):
    argv = [*DETECTION, "--variant", "faster"]
    config, _ = flags.parse_config(rcnn.Config, argv, "", "", rcnn.QUICK)
    splits = detecting.load_splits(config)
    seeds = data.EpochSeeds(0) if split == "train" else None
    assert_tuned_by_hand(rcnn.make_pipeline(config, splits, split, epoch_seeds=seeds))
