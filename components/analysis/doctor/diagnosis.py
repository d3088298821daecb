"""What the doctor found: one `Finding` per check, gathered in a `Diagnosis`."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import textwrap

STATUSES = ("pass", "warn", "fail", "skip", "info")
WIDTH = 100  # columns of the terminal report; report.md holds everything


@dataclasses.dataclass
class Finding:
    """The result of one check.

    Attributes:
        check: String. The check's ID (`"initial_loss"`, ...).
        status: `"pass"`, `"warn"` (slows training or costs accuracy),
            `"fail"` (keeps the network from learning), `"skip"` (does not
            apply) or `"info"` (measured, not judged: a check of the
            initialization on a trained model).
        value: The measured figure (a number, or a short dict or list).
        expected: String. What a healthy model shows: the thresholds applied.
        advice: String. What to change (empty on a pass).
        details: Dict. Per-layer figures behind `value` (in `diagnosis.json`).
        rule: String. The rule that decided a warn or fail, with the
            measurement and the layer or feature it was made on.
    """

    check: str
    status: str
    value: object = None
    expected: str = ""
    advice: str = ""
    details: dict = dataclasses.field(default_factory=dict)
    rule: str = ""

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
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)


def _cut(text, width):
    return text if len(text) <= width else text[: width - 3] + "..."


class Diagnosis:
    """The doctor's findings on one model and dataset.

    `findings` holds one `Finding` per check run, in the order of the
    checklist; `failed` the findings whose status is `"fail"` (empty when
    none). `str(diagnosis)` is a readable table, `to_dict()` the JSON form,
    `save(directory)` writes `diagnosis.json`, `report.md` and the pictures.
    """

    def __init__(
        self, findings, model_name="model", pictures=None, seconds=None, state=None
    ):
        self.findings = list(findings)
        self.model_name = model_name
        self.seconds = seconds
        self.state = state or {}
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
            "state": self.state,
            "findings": [f.to_dict() for f in self.findings],
        }

    def rows(self):
        return [
            (
                f.check,
                f.status.upper() if f.status == "fail" else f.status,
                f.advice if f.status == "skip" else _shown(f.value),
                f.expected,
                f.rule,
                f.advice,
            )
            for f in self.findings
        ]

    def _state_line(self):
        if not self.state:
            return ""
        return f"judged {self.state['state']} ({self.state['reason']})"

    def __str__(self):
        """The table at `WIDTH` columns: a line per check, then what to do
        about each warning and failure; `report.md` holds every figure."""
        rows = self.rows()
        check_width = max(len("check"), *(len(r[0]) for r in rows))
        head = f"{'check'.ljust(check_width)}  status  value"
        title = f"Diagnosis of {self.model_name}"
        if self.state:
            title += f": {self._state_line()}"
        lines = [_cut(title, WIDTH)]
        lines.append(head)
        for check, status, value, *_ in rows:
            prefix = f"{check.ljust(check_width)}  {status.ljust(6)}  "
            lines.append(prefix + _cut(value, WIDTH - len(prefix)))
        for check, status, _, expected, rule, advice in rows:
            if status.lower() in ("warn", "fail"):
                text = f"{check} ({status.lower()}): {rule or expected}. {advice}"
            elif advice and status != "skip":
                text = f"{check} ({status}): {advice}"
            else:
                continue
            lines += textwrap.wrap(text.strip(), WIDTH, subsequent_indent="    ")
        counts = self.to_dict()["counts"]
        summary = (
            f"{counts['fail']} failed, {counts['warn']} warned, {counts['pass']} "
            f"passed, {counts['skip']} skipped"
        )
        if counts["info"]:
            summary += f", {counts['info']} measured without a verdict"
        lines.append(summary)
        return "\n".join(lines)

    def markdown(self):
        lines = [f"# Diagnosis of `{self.model_name}`", ""]
        if self.state:
            lines += [f"The model was {self._state_line()}.", ""]
        lines += [
            "| check | status | value | expected | rule that decided | advice |",
            "| --- | --- | --- | --- | --- | --- |",
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
