"""`claims.md`: the claims' table, one row per claim, as the README shows it."""

from __future__ import annotations


def _figure(entry, arm):
    summary = entry["summary"][arm]
    value, spread = summary["mean"], summary["std"]
    if abs(value) >= 100:
        return f"{value:.0f} ± {spread:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f} ± {spread:.2f}"
    if abs(value) >= 0.01:
        return f"{value:.3f} ± {spread:.3f}"
    return f"{value:.2g} ± {spread:.1g}"


def row(name, entry, picture=None):
    """One markdown row: claim, experiment, figures (mean ± std over seeds),
    verdict, the paper's figure, and the picture."""
    figures = "; ".join(f"{arm} {_figure(entry, arm)}" for arm in entry["arms"])
    judged = "; ".join(
        f"{j['first']} vs {j['second']}: {j['verdict']}" for j in entry["comparisons"]
    )
    seeds = len(entry["per_seed"][entry["arms"][0]])
    link = f" [png]({picture})" if picture else ""
    cells = [
        f"`{name}`: {entry['words']}",
        f"{entry['experiment']} Metric: {entry['metric']} over {seeds} seeds.",
        figures,
        f"**{entry['verdict']}** ({judged})",
        entry["paper"] + link,
    ]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(content, order, pictures="{name}.png"):
    lines = [
        "| claim (the notes' words) | experiment | ours (mean ± std) | verdict | "
        "the literature |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in order:
        entry = content["claims"].get(name)
        if entry and entry.get("done"):
            lines.append(row(name, entry, pictures.format(name=name)))
    return "\n".join(lines) + "\n"
