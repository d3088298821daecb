import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.callbacks import read_state
from recipes import launch
from tests.recipes.run_checks import history_epochs, saved_weights

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


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        [*RECIPE, "--run-dir", str(whole), "--backup-dir", str(tmp_path / "b1")],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=300,
    )
    command = [*RECIPE, "--run-dir", str(killed), "--backup-dir", str(tmp_path / "b2")]
    process = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (read_state(str(tmp_path / "b2")) or {}).get("epoch", 0) >= 2:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "metrics.json").exists()
    subprocess.run(
        command, cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=300
    )

    assert history_epochs(killed / "history.csv") == [
        0,
        1,
        2,
        3,
        4,
    ]  # each exactly once
    for a, b in zip(
        saved_weights(whole / "model.keras"), saved_weights(killed / "model.keras")
    ):
        np.testing.assert_array_equal(a, b)
    first = json.loads((whole / "metrics.json").read_text())
    second = json.loads((killed / "metrics.json").read_text())
    assert first["test_accuracy"] == second["test_accuracy"]
    assert not (tmp_path / "b2").exists()  # Keras removes a finished run's backup

    # The saved model loads in safe mode in a fresh process, predicts the
    # same, and exports for serving.
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 1), "uint8")
    np.save(tmp_path / "images.npy", images)
    script = (
        "import keras, numpy as np, sys\n"
        "import components.serving  # registers the serving layers\n"
        "m = keras.saving.load_model(sys.argv[1], safe_mode=True)\n"
        "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))\n"
        "m.export(sys.argv[4])\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(whole / "model.keras"),
            str(tmp_path / "images.npy"),
            str(tmp_path / "out.npy"),
            str(tmp_path / "served"),
        ],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=300,
    )
    expected = keras.saving.load_model(whole / "model.keras").predict(images, verbose=0)
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6
    )
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(
        served.serve(images).numpy(), expected, rtol=1e-5, atol=1e-6
    )


def test_two_workers_train_together_and_agree_on_the_weights(tmp_path):
    run_dir = tmp_path / "run"
    command = [
        *RECIPE,
        "--strategy",
        "multiworker",
        "--epochs",
        "2",
        "--run-dir",
        str(run_dir),
    ]
    code, message = launch.run_workers(command, 2, str(tmp_path / "logs"), timeout=300)
    assert code == 0, message + (tmp_path / "logs" / "worker1.log").read_text()[-2000:]
    chief = saved_weights(run_dir / "model.keras")
    worker = saved_weights(run_dir / "workers" / "1" / "model.keras")
    for a, b in zip(chief, worker):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert history_epochs(run_dir / "history.csv") == [0, 1]


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
