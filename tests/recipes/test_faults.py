"""Faults a recipe run survives, or refuses with one line: injected for real."""

import dataclasses
import fcntl
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

from components.callbacks import atomic_backup, read_state
from recipes import classify, run
from recipes.run import flags, preflight
from tests.recipes.run_checks import history_epochs, saved_weights

FAST = ["--image-size", "8", "--width", "8", "--verbose", "0", "--batch-size", "32"]
FAST += ["--no-baseline", "--no-monitors"]


def _fake_backup(folder, argv, epoch=1):
    """A backup unit as a run with `argv` leaves it (only its state matters here)."""
    config, _ = flags.parse_config(classify.Config, argv, "", "")
    unit = os.path.join(folder, f"{atomic_backup.PREFIX}{epoch:06d}")
    os.makedirs(unit)
    state = {
        "epoch": epoch,
        "rng": [],
        "history": [],
        "flags": dataclasses.asdict(config),
    }
    with open(os.path.join(unit, atomic_backup.STATE), "w") as f:
        json.dump(state, f)
    return unit


def _exit(argv, capsys):
    with pytest.raises(SystemExit) as info:
        classify.main(argv)
    return info.value.code, capsys.readouterr().err


def test_a_resume_with_other_flags_is_refused_before_anything_is_written(
    tmp_path, capsys
):
    backup, run_dir = str(tmp_path / "backup"), tmp_path / "run"
    _fake_backup(backup, [*FAST, "--model", "vgg", "--backup-dir", backup])
    argv = [*FAST, "--model", "mlp", "--backup-dir", backup, "--run-dir", str(run_dir)]
    code, err = _exit(argv, capsys)
    assert code == run.EXIT_USAGE
    assert "--model 'vgg' (now 'mlp')" in err and "--width" not in err
    assert len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_an_ensemble_resume_with_other_flags_is_refused_too(tmp_path, capsys):
    backup, run_dir = str(tmp_path / "backup"), tmp_path / "run"
    argv = [*FAST, "--ensemble", "2", "--backup-dir", backup]
    _fake_backup(os.path.join(backup, "member1"), argv)  # members back up apart
    code, err = _exit([*argv, "--l2", "0.01", "--run-dir", str(run_dir)], capsys)
    assert code == run.EXIT_USAGE and "--l2 0.0 (now 0.01)" in err
    assert not run_dir.exists()


def test_flags_that_leave_the_run_unchanged_may_differ_on_resume(tmp_path):
    backup = str(tmp_path / "backup")
    _fake_backup(backup, [*FAST, "--epochs", "3", "--backup-dir", backup])
    config, _ = flags.parse_config(
        classify.Config,
        [*FAST, "--epochs", "9", "--verbose", "2", "--backup-dir", backup],
        "",
        "",
    )
    preflight.check_resume(backup, dataclasses.asdict(config))  # no error
    changed = dataclasses.replace(config, learning_rate=0.5)
    with pytest.raises(ValueError, match="--learning-rate 0.003 \\(now 0.5\\)"):
        preflight.check_resume(backup, dataclasses.asdict(changed))


def test_a_diverging_run_ends_with_one_line_status_and_metrics(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [*FAST, "--optimizer", "sgd", "--learning-rate", "1000", "--epochs", "3"]
    code, err = _exit([*argv, "--run-dir", str(run_dir)], capsys)
    assert code == run.EXIT_DIVERGED
    (line,) = err.strip().splitlines()
    assert "diverged" in line and "epoch 1" in line and "--learning-rate" in line
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["epoch"] == 1
    assert not (run_dir / "model.keras").exists()  # no NaN model left as a result


def test_a_run_directory_in_use_by_a_live_run_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    held = preflight.lock(str(run_dir))  # another live run
    try:
        code, err = _exit([*FAST, "--epochs", "1", "--run-dir", str(run_dir)], capsys)
    finally:
        held.close()
    assert code == run.EXIT_USAGE
    assert "in use by another live run" in err and str(os.getpid()) in err
    assert sorted(os.listdir(run_dir)) == [".lock"]  # nothing of the refused run


def test_a_used_run_directory_is_refused_unless_overwritten(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [*FAST, "--epochs", "1", "--run-dir", str(run_dir)]
    classify.main(argv)
    first = (run_dir / "metrics.json").read_text()
    (run_dir / "logs" / "stray").write_text("")  # something of the first run
    code, err = _exit(argv, capsys)
    assert code == run.EXIT_USAGE and "holds an earlier run" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (run_dir / "metrics.json").read_text() == first  # untouched
    classify.main([*argv, "--overwrite"])
    assert not (run_dir / "logs" / "stray").exists()  # replaced, not mixed
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"


def test_a_run_directory_that_cannot_be_written_is_refused(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through permission bits: use /proc
        run_dir = "/proc/keras-notes-run"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        run_dir = str(locked / "run")
    code, err = _exit([*FAST, "--epochs", "1", "--run-dir", run_dir], capsys)
    assert code == run.EXIT_USAGE and "not writable" in err
    file = tmp_path / "a-file"
    file.write_text("")
    code, err = _exit([*FAST, "--run-dir", str(file / "run")], capsys)
    assert code == run.EXIT_USAGE and "is a file" in err


def test_a_backup_that_cannot_be_restored_is_one_line(tmp_path, capsys):
    backup, run_dir = str(tmp_path / "backup"), tmp_path / "run"
    argv = [*FAST, "--epochs", "2", "--backup-dir", backup, "--run-dir", str(run_dir)]
    unit = _fake_backup(backup, argv)  # its state reads, its weights are missing
    code, err = _exit(argv, capsys)
    assert code == run.EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and unit in err


# --- signals and kills in a real process ---------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
# 90 steps an epoch, dropout on, augmentation off (see the README on what a
# resume repeats exactly), deterministic ops.
RECIPE = [sys.executable, "-m", "recipes.classify", *FAST[:4], "--image-size", "16"]
RECIPE += ["--batch-size", "16", "--epochs", "3", "--augment", "none", "--seed", "3"]
RECIPE += ["--verbose", "0", "--no-baseline", "--no-monitors", "--deterministic"]


@pytest.fixture(scope="session")
def uninterrupted_run(tmp_path_factory, worker_id):
    """The run directory of RECIPE run whole, made once for all xdist workers:
    under a lock in the session's shared temporary folder, the first worker
    runs it and the others read it."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    run_dir = shared / "uninterrupted"
    with open(shared / "uninterrupted.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (run_dir / "metrics.json").exists():
            subprocess.run(
                # --overwrite: a worker's earlier attempt may have died midway.
                [*RECIPE, "--run-dir", str(run_dir), "--overwrite"],
                cwd=ROOT,
                env=ENV,
                check=True,
                capture_output=True,
                timeout=300,
            )
    return run_dir


@pytest.fixture
def uninterrupted(uninterrupted_run):
    return saved_weights(uninterrupted_run / "model.keras")


def _start_and_wait(command, backup, ready):
    """Starts `command`; returns it once `ready(state)` holds for its backup."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        state = read_state(backup)
        if state is not None and ready(state):
            return process, state
        time.sleep(0.01)
    process.kill()
    raise AssertionError(
        f"no such backup before the run ended: {process.communicate()}"
    )


def _resume_and_compare(command, run_dir, backup, expected):
    done = subprocess.run(
        command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert history_epochs(run_dir / "history.csv") == [0, 1, 2]  # each exactly once
    for a, b in zip(saved_weights(run_dir / "model.keras"), expected):
        np.testing.assert_array_equal(a, b)
    assert not os.path.exists(backup)


def test_sigterm_mid_epoch_backs_up_and_the_same_command_goes_on(
    tmp_path, uninterrupted
):
    run_dir, backup = tmp_path / "run", str(tmp_path / "backup")
    command = [*RECIPE, "--run-dir", str(run_dir), "--backup-dir", backup]
    process, _ = _start_and_wait(command, backup, lambda s: s["epoch"] >= 1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    (line,) = err.strip().splitlines()
    assert "interrupted (SIGTERM)" in line and "run the same command" in line
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    _resume_and_compare(command, run_dir, backup, uninterrupted)


def test_a_kill_after_a_mid_epoch_backup_resumes_at_that_step(tmp_path, uninterrupted):
    run_dir, backup = tmp_path / "run", str(tmp_path / "backup")
    command = [*RECIPE, "--run-dir", str(run_dir), "--backup-dir", backup]
    command += ["--backup-every", "16"]
    process, state = _start_and_wait(
        command, backup, lambda s: s["epoch"] >= 1 and s["step"] > 0
    )
    process.kill()
    process.communicate()
    assert state["step"] % 8 == 0  # at the end of a compiled 8-step call
    _resume_and_compare(command, run_dir, backup, uninterrupted)


def test_a_kill_between_epochs_resumes_to_the_uninterrupted_run(
    tmp_path, uninterrupted_run, uninterrupted
):
    run_dir, backup = tmp_path / "run", str(tmp_path / "backup")
    command = [*RECIPE, "--run-dir", str(run_dir), "--backup-dir", backup]
    process, state = _start_and_wait(command, backup, lambda s: s["epoch"] >= 2)
    process.kill()
    process.communicate()
    assert not state.get("step")  # an end-of-epoch backup, not a mid-epoch one
    assert not (run_dir / "metrics.json").exists()
    _resume_and_compare(command, run_dir, backup, uninterrupted)
    first = json.loads((uninterrupted_run / "metrics.json").read_text())
    second = json.loads((run_dir / "metrics.json").read_text())
    assert first["test_accuracy"] == second["test_accuracy"]

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
    model = run_dir / "model.keras"
    outputs, served = tmp_path / "out.npy", tmp_path / "served"
    arguments = [str(model), str(tmp_path / "images.npy"), str(outputs), str(served)]
    subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=300,
    )
    predicted = keras.saving.load_model(model).predict(images, verbose=0)
    np.testing.assert_allclose(np.load(outputs), predicted, rtol=1e-5, atol=1e-6)
    loaded = tf.saved_model.load(str(served))
    np.testing.assert_allclose(
        loaded.serve(images).numpy(), predicted, rtol=1e-5, atol=1e-6
    )
