"""What a run leaves and says: atomic JSON, histories, curves, the closing report."""

from __future__ import annotations

import collections.abc
import contextlib
import csv
import json
import os
import sys
import tempfile

import numpy as np


def atomic_write_json(path, obj):
    """Writes JSON to `path` through a temporary file and a rename.

    A reader (or a run killed mid-write) never sees a half-written file. A
    sequence that is not a list (`components.detection.DetectionRows`) is
    written one element a line, as it is read, never held whole.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            if isinstance(obj, collections.abc.Sequence) and not isinstance(
                obj, (list, tuple, str)
            ):
                f.write("[")
                for i, item in enumerate(obj):
                    f.write(",\n" if i else "\n")
                    json.dump(item, f, sort_keys=True, default=_to_json)
                f.write("\n]")
            else:
                json.dump(obj, f, indent=2, sort_keys=True, default=_to_json)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _to_json(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def read_history(path):
    """A history CSV (as `CSVLogger` writes it) as a `History.history` dict.

    After a resumed run, `fit` returns only the epochs it ran itself; the CSV
    holds them all.
    """
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [_float(row[k]) for row in rows if row[k] != ""] for k in keys}


def _float(text):
    """A CSV cell as a float; `CSVLogger`'s "NA" (a value missing) is NaN."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def merge_histories(paths, out_path, column="member"):
    """Concatenates several history CSVs into one, adding a `column` index."""
    rows, fields = [], [column]
    for index, path in enumerate(paths):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                fields += [k for k in row if k not in fields]
                rows.append({column: index, **row})
    with open(out_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def plot_histories(histories, path, title="", metrics=("loss", "accuracy")):
    """Saves curves (train and validation) of `metrics` as a PNG, one panel each.

    Args:
        histories: List of `History.history` dicts, one line pair per entry.
        path: String. Where to write the PNG.
        title: String. Figure title.
        metrics: Sequence of history keys, one panel each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4))
    for panel, metric in zip(np.atleast_1d(axes), metrics):
        for index, history in enumerate(histories):
            label = f"model {index + 1} " if len(histories) > 1 else ""
            for prefix, style in (("", "-"), ("val_", "--")):
                values = history.get(prefix + metric)
                if values:
                    epochs = range(1, len(values) + 1)
                    kind = "validation" if prefix else "train"
                    panel.plot(epochs, values, style, label=f"{label}{kind}")
        panel.set_xlabel("epoch")
        panel.set_ylabel(metric)
        panel.grid(alpha=0.3)
        if panel.lines:
            panel.legend(fontsize="small")
        else:  # a recipe with no such metric (a detector has no accuracy)
            panel.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(lines, stream=None):
    """Prints a recipe's closing summary."""
    stream = stream or sys.stdout
    for line in lines:
        print(line, file=stream)
