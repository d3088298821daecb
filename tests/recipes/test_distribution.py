import os
import subprocess
import sys
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
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
# Dropout on, augmentation off: see the README on what a resume repeats exactly.
RECIPE = [
    sys.executable,
    "-m",
    "recipes.classify",
    "--image-size",
    "16",
    "--width",
    "8",
    "--batch-size",
    "32",
    "--epochs",
    "5",
    "--augment",
    "none",
    "--no-baseline",
    "--no-monitors",
    "--verbose",
    "0",
    "--seed",
    "3",
    "--deterministic",
]


def test_two_workers_reading_their_share_of_the_files_train_as_one_process(
    tmp_path,
):
    # A folder of images streams: each worker decodes only the rows of each
    # global batch it trains on. Both end with the same weights, and those of
    # one process on the same global batches (dropout off: its random masks
    # differ per replica), up to the order of float sums (8e-5 measured; a
    # worker training on another's rows was 0.2 off).
    write_class_folders(tmp_path / "data", per_class=40, size=(20, 20))
    # 84 training images: 7 whole batches of 12 (several workers leave a
    # partial last batch out).
    flags = ["--dataset", f"dir:{tmp_path / 'data'}", "--dropout", "0", "--epochs", "2"]
    flags += ["--batch-size", "12"]
    two, one = tmp_path / "two", tmp_path / "one"
    command = [*RECIPE, *flags, "--strategy", "multiworker", "--run-dir", str(two)]
    code, message = launch.run_workers(command, 2, str(tmp_path / "logs"), timeout=300)
    assert code == 0, message + (tmp_path / "logs" / "worker1.log").read_text()[-2000:]
    subprocess.run(
        [*RECIPE, *flags, "--run-dir", str(one)], env=ENV, cwd=ROOT, check=True
    )
    chief = saved_weights(two / "model.keras")
    worker = saved_weights(two / "workers" / "1" / "model.keras")
    alone = saved_weights(one / "model.keras")
    for a, b, c in zip(chief, worker, alone):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a, c, atol=1e-3)
    assert history_epochs(two / "history.csv") == [0, 1]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker in /proc")
def test_a_killed_worker_stops_the_run_and_the_same_command_resumes_it(tmp_path):
    # kill -9 of worker 1 once the chief has backed up a step: the launcher
    # stops the chief and names the worker; every worker resumes from the
    # chief's one backup, to the weights of a run never killed.
    write_class_folders(tmp_path / "data", per_class=40, size=(20, 20))
    flags = ["--dataset", f"dir:{tmp_path / 'data'}", "--dropout", "0"]
    flags += ["--epochs", "8", "--backup-every", "1", "--strategy", "multiworker"]
    whole, cut, backup = tmp_path / "whole", tmp_path / "cut", tmp_path / "backup"
    code, message = launch.run_workers(
        [*RECIPE, *flags, "--run-dir", str(whole)], 2, str(tmp_path / "l1"), 300
    )
    assert code == 0, message
    command = [*RECIPE, *flags, "--run-dir", str(cut), "--backup-dir", str(backup)]
    code, err, seconds = kill_a_worker_after_the_first_backup(
        command, backup, tmp_path / "logs", ENV, ROOT
    )
    assert code == 1 and seconds < 30
    assert "worker 1 was killed by SIGKILL" in err
    assert not (backup / "workers").exists(), "one backup, the chief's"
    code, message = launch.run_workers(command, 2, str(tmp_path / "l2"), 300)
    assert code == 0, message
    for a, b in zip(
        saved_weights(whole / "model.keras"),
        saved_weights(cut / "model.keras"),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert history_epochs(cut / "history.csv") == list(range(8))
    assert not backup.exists(), "a finished run removes its backup"


def test_a_failed_worker_stops_the_others_and_is_reported(tmp_path):
    # Worker 1 fails at once; worker 0 would wait ten minutes, past the
    # timeout: a launcher that waited for it would report the timeout instead.
    script = (
        "import json, os, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "sys.exit(7) if index == 1 else time.sleep(600)\n"
    )
    code, message = launch.run_workers(
        [sys.executable, "-c", script], 2, str(tmp_path), timeout=120
    )
    assert code == 1 and "worker 1 failed with exit status 7" in message
    code, message = launch.run_workers(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        2,
        str(tmp_path),
        timeout=1,
    )
    assert code == 1 and "did not finish within 1 s" in message


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "tpu"], "strategy"),
        (["--strategy", "multiworker"], "TF_CONFIG"),
    ],
)
def test_bad_strategies_are_one_line_errors(argv, message, capsys, monkeypatch):
    from recipes import classify

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        classify.main([*argv, "--run-dir", "unused"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_launcher_refuses_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        launch.main(["--workers", "0", "--", "true"])
    assert "workers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launch.main(["--workers", "2"])
    assert "command" in capsys.readouterr().err


def test_the_private_keras_functions_multiworker_needs_are_named_when_missing(
    monkeypatch,
):
    # Fails here, naming the function, the day a Keras release drops one.
    from keras.src.backend.tensorflow import trainer

    from recipes.run import distribution

    assert distribution.missing_private_keras() == []
    monkeypatch.delattr(trainer, "reduce_per_replica")
    name = "keras.src.backend.tensorflow.trainer.reduce_per_replica"
    assert distribution.missing_private_keras() == [name]
    with pytest.raises(RuntimeError, match=name.replace(".", r"\.")):
        distribution._check_private_keras()


def test_multiworker_trains_on_whole_batches_only():
    # A last batch of 1 row over 2 workers left one without rows, and the
    # synchronized batch norm's all-reduce failed on mismatched shapes.
    import tensorflow as tf

    from components import data

    class Resolver:
        task_type, task_id = "worker", 1

        def cluster_spec(self):
            return tf.train.ClusterSpec({"worker": ["a:1", "b:2"]})

    class Strategy:
        cluster_resolver = Resolver()
        num_replicas_in_sync = 2

    share = data.worker_share(Strategy(), 4)
    assert (share.workers, share.index, share.whole_batches) == (2, 1, True)
    stream = data.Stream(tf.data.Dataset.range(9), lambda i: (tf.fill([2], i), i))
    batches = data.make_pipeline(stream, 4, training=True, seed=0, share=share)
    assert [len(y) for _, y in batches.as_numpy_iterator()] == [4, 4]
