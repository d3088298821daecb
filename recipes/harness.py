"""Plumbing shared by every recipe: CLI from a config dataclass, seeding, JSON,
histories, plots and the closing report (the run's lifecycle is `run.py`). Recipes import this module and nothing else of
each other (see DESIGN.md)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import sys
import tempfile
import types
import typing

import keras
import numpy as np

from recipes import distribution


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _field_type(hint):
    """Returns `(python_type, optional)` for a dataclass field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def build_parser(config_cls, prog, description):
    """Builds an argument parser whose flags are the fields of `config_cls`.

    Each field `some_name` becomes `--some-name`, typed by its annotation, with
    its default and the `help` of its metadata shown by `--help`. Booleans get
    `--flag / --no-flag`.
    """
    parser = OneLineParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        kind, _ = _field_type(hints[field.name])
        help_text = field.metadata.get("help", " ")
        if kind is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=field.default,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag,
                type=kind,
                default=field.default,
                help=help_text,
                metavar=field.name.upper(),
            )
    return parser


def parse_config(config_cls, argv, prog, description, quick=None):
    """Parses `argv` into a validated `config_cls` instance.

    With `quick` (a dict of settings), `--quick` applies them first
    (`apply_quick`). Invalid flags, and any `ValueError` raised by the
    config's `validate()`, end the program with a one-line error and exit
    status 2 (`SystemExit`). This is the one place a config is validated.
    """
    parser = build_parser(config_cls, prog, description)
    namespace = parser.parse_args(argv)
    config = apply_quick(config_cls(**vars(namespace)), quick or {})
    with usage_errors(parser):
        if hasattr(config, "strategy"):
            # First of all: a multi-worker strategy must be made before any
            # TensorFlow op runs (validation builds an optimizer).
            distribution.make_strategy(config.strategy)
        config.validate()
    return config, parser


def apply_quick(config, quick):
    """`--quick`: the settings of `quick` for every flag still at its default.

    A flag given on the command line (a value other than the default) wins.
    """
    if not getattr(config, "quick", False):
        return config
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    changes = {k: v for k, v in quick.items() if getattr(config, k) == defaults[k]}
    return dataclasses.replace(config, **changes)


@contextlib.contextmanager
def usage_errors(parser):
    """Turns `ValueError`s raised inside the block into a one-line CLI error."""
    try:
        yield
    except ValueError as error:
        parser.error(str(error).splitlines()[0])


def seed_everything(seed, deterministic=False):
    """Seeds Python, NumPy and the backend; optionally makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def atomic_write_json(path, obj):
    """Writes JSON to `path` through a temporary file and a rename.

    A reader (or a run killed mid-write) never sees a half-written file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
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
