"""What the doctor found: one `Finding` per check, gathered in a `Diagnosis`."""

from __future__ import annotations

import dataclasses
import json
import math
import os

STATUSES = ("pass", "warn", "fail", "skip")


@dataclasses.dataclass
class Finding:
    """The result of one check.

    Attributes:
        check: String. The check's ID (`"initial_loss"`, ...).
        status: `"pass"`, `"warn"` (slows training or costs accuracy),
            `"fail"` (keeps the network from learning) or `"skip"`.
        value: The measured figure (a number, or a short dict or list).
        expected: String. What a healthy model shows.
        advice: String. What to change (empty on a pass).
        details: Dict. Per-layer figures behind `value` (in `diagnosis.json`).
    """

    check: str
    status: str
    value: object = None
    expected: str = ""
    advice: str = ""
    details: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(
                f"Finding status must be one of {STATUSES}: {self.status!r}"
            )

    def to_dict(self):
        return _plain(dataclasses.asdict(self))


def _plain(obj):
    """JSON-safe: NumPy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _shown(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)


class Diagnosis:
    """The doctor's findings on one model and dataset.

    `findings` holds one `Finding` per check run, in the order of the
    checklist; `failed` the findings whose status is `"fail"` (empty when
    none). `str(diagnosis)` is a readable table, `to_dict()` the JSON form,
    `save(directory)` writes `diagnosis.json`, `report.md` and the pictures.
    """

    def __init__(self, findings, model_name="model", pictures=None, seconds=None):
        self.findings = list(findings)
        self.model_name = model_name
        self.seconds = seconds
        self._pictures = pictures or {}

    @property
    def failed(self):
        return [f for f in self.findings if f.status == "fail"]

    @property
    def warnings(self):
        return [f for f in self.findings if f.status == "warn"]

    def __getitem__(self, check):
        for finding in self.findings:
            if finding.check == check:
                return finding
        raise KeyError(f"No finding for check {check!r}.")

    def to_dict(self):
        counts = {s: sum(f.status == s for f in self.findings) for s in STATUSES}
        return {
            "model": self.model_name,
            "counts": counts,
            "seconds": self.seconds,
            "findings": [f.to_dict() for f in self.findings],
        }

    def rows(self):
        return [
            (
                f.check,
                f.status.upper() if f.status == "fail" else f.status,
                _shown(f.value),
                f.expected,
                f.advice,
            )
            for f in self.findings
        ]

    def __str__(self):
        rows = [("check", "status", "value", "expected", "advice"), *self.rows()]
        widths = [max(len(r[i]) for r in rows[:]) for i in range(4)]
        lines = []
        for row in rows:
            head = "  ".join(cell.ljust(width) for cell, width in zip(row, widths))
            lines.append(f"{head}  {row[4]}".rstrip())
        counts = self.to_dict()["counts"]
        lines.append(
            f"{counts['fail']} failed, {counts['warn']} warned, {counts['pass']} "
            f"passed, {counts['skip']} skipped"
        )
        return "\n".join(lines)

    def markdown(self):
        lines = [
            f"# Diagnosis of `{self.model_name}`",
            "",
            "| check | status | value | expected | advice |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in self.rows():
            cells = [c.replace("|", "\\|") for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        if self._pictures:
            lines += ["", *[f"![{name}]({name})" for name in sorted(self._pictures)]]
        return "\n".join(lines) + "\n"

    def save(self, directory):
        """Writes `diagnosis.json`, `report.md` and the pictures; returns their paths."""
        os.makedirs(directory, exist_ok=True)
        written = []
        for name, draw in sorted(self._pictures.items()):
            path = os.path.join(directory, name)
            draw(path)
            written.append(path)
        path = os.path.join(directory, "diagnosis.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        os.replace(path + ".tmp", path)
        report = os.path.join(directory, "report.md")
        with open(report, "w") as f:
            f.write(self.markdown())
        return [path, report, *written]
