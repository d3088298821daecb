"""`--strategy data-parallel`: Keras 3's distribution on JAX, in real processes.

Each test starts real JAX processes on 127.0.0.1 (`recipes.launch`), joined
by `keras.distribution.initialize` and all-reducing through gloo.
"""

import csv
import glob
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recipes import launch
from tests.own_datasets import write_class_folders
from tests.recipes.run_checks import (
    history_epochs,
    kill_a_worker_after_the_first_backup,
    saved_weights,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
# 84 training images (of 120): 7 whole batches of 12, so two processes (6
# images each per batch) train on the same global batches as one.
RECIPE = [
    sys.executable,
    "-m",
    "recipes.classify",
    "--image-size",
    "16",
    "--width",
    "8",
    "--batch-size",
    "12",
    "--augment",
    "none",
    "--dropout",
    "0",
    "--no-baseline",
    "--no-monitors",
    "--verbose",
    "0",
    "--seed",
    "3",
    "--deterministic",
    "--strategy",
    "data-parallel",
]


@pytest.fixture
def jax_processes(monkeypatch):
    # The launcher passes its environment on: the workers run JAX.
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "colours"
    write_class_folders(root, per_class=40, size=(20, 20))
    return f"dir:{root}"


def history_column(path, name):
    with open(path, newline="") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


def launched(command, logs, timeout=300):
    code, message = launch.run_workers(command, 2, str(logs), timeout=timeout)
    assert code == 0, message
    return message


def test_two_processes_train_as_one_on_the_same_global_batches(
    tmp_path, data, jax_processes
):
    two, one = tmp_path / "two", tmp_path / "one"
    flags = ["--dataset", data, "--epochs", "2"]
    launched([*RECIPE, *flags, "--run-dir", str(two)], tmp_path / "logs")
    subprocess.run(
        [*RECIPE, *flags, "--run-dir", str(one)], env=ENV, cwd=ROOT, check=True
    )
    first = saved_weights(two / "model.keras")
    second = saved_weights(two / "workers" / "1" / "model.keras")
    alone = saved_weights(one / "model.keras")
    for a, b, c in zip(first, second, alone):
        # One program over the global batch: the processes hold one copy.
        np.testing.assert_array_equal(a, b)
        # Against one process: the same sums, split in two partial sums.
        np.testing.assert_allclose(a, c, atol=1e-4)
    assert history_epochs(two / "history.csv") == [0, 1]
    # Validation under the distribution scores the same images as one process.
    np.testing.assert_allclose(
        history_column(two / "history.csv", "val_loss"),
        history_column(one / "history.csv", "val_loss"),
        rtol=1e-4,
    )
    assert "2 processes x 1 device" in (tmp_path / "logs" / "worker0.log").read_text()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker in /proc")
def test_a_killed_worker_stops_the_run_and_the_same_command_resumes_it(
    tmp_path, data, jax_processes
):
    flags = ["--dataset", data, "--epochs", "12", "--backup-every", "1"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    launched([*RECIPE, *flags, "--run-dir", str(whole)], tmp_path / "logs-whole")

    backup = tmp_path / "backup"
    command = [*RECIPE, *flags, "--run-dir", str(cut), "--backup-dir", str(backup)]
    code, err, seconds = kill_a_worker_after_the_first_backup(
        command, backup, tmp_path / "logs", {**ENV, "KERAS_BACKEND": "jax"}, ROOT
    )
    assert seconds < 30
    assert code == 1
    assert "worker 1 was killed by SIGKILL" in err
    assert glob.glob(str(backup / "ckpt-*")), "the backup must survive the kill"
    stopped_at = sorted(glob.glob(str(backup / "ckpt-*")))[-1]
    assert not stopped_at.endswith("ckpt-000012-000000"), "killed after the end"

    launched(command, tmp_path / "logs-resumed")
    for a, b in zip(
        saved_weights(whole / "model.keras"), saved_weights(cut / "model.keras")
    ):
        np.testing.assert_array_equal(a, b)
    assert history_epochs(cut / "history.csv") == list(range(12))
    assert not backup.exists(), "a finished run removes its backup"


def test_faster_rcnn_trains_in_two_processes_to_identical_weights(
    tmp_path, jax_processes
):
    # The detector that computes its own targets in its training step, and
    # scores the validation images while training, in every process.
    import components.serving  # noqa: F401  (registers the saved layers)

    run = tmp_path / "run"
    command = [sys.executable, "-m", "recipes.rcnn", "--quick", "--epochs", "2"]
    command += ["--train-images", "96", "--strategy", "data-parallel"]
    command += ["--verbose", "0", "--run-dir", str(run)]
    launched(command, tmp_path / "logs")
    chief = saved_weights(run / "model.keras")
    other = saved_weights(run / "workers" / "1" / "model.keras")
    for a, b in zip(chief, other, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(history_column(run / "history.csv", "val_map50")) == 2


def test_a_process_that_fails_ends_the_run_at_once(tmp_path, jax_processes):
    # Process 1 raises once both have joined; on a normal exit it would wait
    # at JAX's shutdown barrier for process 0, itself waiting in a collective
    # for process 1: minutes, before the launcher could see the failure.
    script = (
        "import os, time\n"
        "from recipes.run.data_parallel import DataParallel\n"
        "import jax.numpy as jnp\n"
        "where = DataParallel()\n"
        "if where.process_id == 1:\n"
        "    raise RuntimeError('process 1 gave up')\n"
        "time.sleep(600)\n"
    )
    start = time.monotonic()
    code, message = launch.run_workers(
        [sys.executable, "-c", script], 2, str(tmp_path), timeout=300
    )
    assert code == 1 and "worker 1 failed with exit status 1" in message
    assert "process 1 gave up" in message
    assert time.monotonic() - start < 60


def test_data_parallel_needs_jax(capsys):
    from recipes import classify

    with pytest.raises(SystemExit) as exit_info:
        classify.main(["--strategy", "data-parallel", "--run-dir", "unused"])
    assert exit_info.value.code == 2
    assert "KERAS_BACKEND=jax" in capsys.readouterr().err


def test_each_process_decodes_exactly_the_rows_it_is_fed():
    # The two halves of a process's share: `data.worker_share` decides which
    # rows of every global batch a file source decodes (the others are
    # blanks), `DataParallel.feed` which rows the process trains on. They
    # must agree, or a process would train on blanks; together the processes
    # must train on every row of every whole batch once.
    import tensorflow as tf

    from components import data
    from recipes.run.data_parallel import DataParallel

    def decode(value):
        return tf.fill([3], value + 1), value

    fed = {}
    for process in (0, 1):
        where = type("Process", (), {"num_processes": 2, "process_id": process})()
        share = data.worker_share(where, 8)
        assert share.whole_batches
        stream = data.Stream(tf.data.Dataset.range(22), decode)
        examples = data.stream_examples(stream, data.EpochSeeds(5), share=share)
        batches = examples.batch(8, drop_remainder=True)
        part = DataParallel.feed(where, batches, 8, whole=True)
        assert int(part.cardinality()) == 2
        for step, (images, labels) in enumerate(part.as_numpy_iterator()):
            assert len(labels) == 4
            np.testing.assert_array_equal(images[:, 0], labels + 1)  # no blank
            fed[(step, process)] = labels
    one_process = np.concatenate(
        [
            y
            for _, y in data.stream_examples(
                data.Stream(tf.data.Dataset.range(22), decode), data.EpochSeeds(5)
            )
            .batch(8, drop_remainder=True)
            .as_numpy_iterator()
        ]
    )
    order = np.concatenate([fed[key] for key in sorted(fed)])
    np.testing.assert_array_equal(order, one_process)
