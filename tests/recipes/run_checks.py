"""What the recipe tests read back from a run directory."""

import csv
import os

import keras
import numpy as np


def saved_weights(path):
    """The weights of a saved model, loaded in safe mode, as NumPy arrays."""
    model = keras.saving.load_model(path, safe_mode=True)
    return [np.asarray(w) for w in model.weights]


def history_epochs(path):
    """The epoch column of a history CSV."""
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _detections(outputs, image, min_score):
    count = int(outputs["num_detections"][image])
    return [
        (
            int(outputs["labels"][image][k]),
            float(outputs["scores"][image][k]),
            np.asarray(outputs["boxes"][image][k]),
        )
        for k in range(count)
        if outputs["scores"][image][k] >= min_score
    ]


def _iou(a, b):
    inner = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None)
    overlap = inner[0] * inner[1]
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return overlap / max(area - overlap, 1e-9)


def _matched(one, others, atol, min_iou):
    label, score, box = one
    return any(
        label == other_label
        and abs(score - other_score) <= atol
        and (np.abs(box - other_box).max() <= atol or _iou(box, other_box) >= min_iou)
        for other_label, other_score, other_box in others
    )


def assert_same_detections(found, expected, atol, min_score=0.05, min_iou=0.5):
    """Per image, the same detections scoring at least `min_score`, in any
    order: the same label and score (within `atol`), and the same box (within
    `atol`) or, where two regions of one object tie on their score to float
    precision and NMS keeps either, a box overlapping it at `min_iou`. A box
    near the decoding's score threshold may fall on either side of it."""
    for image in range(len(expected["num_detections"])):
        wanted = _detections(expected, image, min_score + atol)
        loose = _detections(found, image, min_score - atol)
        assert all(_matched(d, loose, atol, min_iou) for d in wanted), (
            image,
            "missing",
        )
        strict = _detections(found, image, min_score + atol)
        within = _detections(expected, image, min_score - atol)
        assert all(_matched(d, within, atol, min_iou) for d in strict), (
            image,
            "extra",
        )


def pids_of(words, variable):
    """The pids of the processes whose command line holds every string of
    `words` and whose environment holds `variable` ("NAME=value"); Linux."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                environment = f.read().split(b"\0")
        except OSError:
            continue
        if variable.encode() in environment and all(
            any(word.encode() in part for part in command) for word in words
        ):
            found.append(int(entry))
    return found


def kill_a_worker_after_the_first_backup(command, backup, log_dir, env, cwd):
    """Runs `command` under `recipes.launch --workers 2`, kills worker 1 with
    SIGKILL once `backup` holds a backup, and returns `(exit status of the
    launcher, its stderr, seconds from the kill to its exit)`."""
    import glob
    import signal
    import subprocess
    import sys
    import time

    launcher = subprocess.Popen(
        [sys.executable, "-m", "recipes.launch", "--log-dir", str(log_dir)]
        + ["--", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not glob.glob(str(backup / "ckpt-*")) and time.monotonic() < deadline:
        assert launcher.poll() is None, launcher.communicate()[1]
        time.sleep(0.05)
    run_dir = command[command.index("--run-dir") + 1]
    pids = pids_of([run_dir, command[2]], "KERAS_DISTRIBUTION_PROCESS_ID=1")
    assert len(pids) == 1, f"worker 1 not found: {pids}"
    os.kill(pids[0], signal.SIGKILL)
    killed = time.monotonic()
    _, err = launcher.communicate(timeout=60)
    return launcher.returncode, err, time.monotonic() - killed
