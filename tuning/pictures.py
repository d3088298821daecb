"""Pictures of a search: the objective against each hyperparameter."""

from __future__ import annotations

import math


def plot_objective(trials, space, objective, path):
    """One panel per hyperparameter: every finished trial's objective.

    As KerasTuner's guide shows a search, so one sees where good values lie
    rather than read it off a table. Log-sampled hyperparameters (the notes'
    learning rate, L2, the YOLO weights) get a log axis; choices are placed at
    their index.

    Args:
        trials: KerasTuner `Trial`s (those without a score are left out).
        space: The search's `HyperParameters.space`.
        objective: String. The objective's name (the y label).
        path: String. Where to write the PNG.

    Returns:
        The number of trials drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [t for t in trials if t.score is not None and math.isfinite(t.score)]
    names = [hp.name for hp in space]
    columns = min(3, max(1, len(names)))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.5 * columns, 3.5 * rows), squeeze=False
    )
    for panel, hp in zip(axes.flat, space):
        values = [t.hyperparameters.values.get(hp.name) for t in scored]
        scores = [t.score for t in scored]
        if type(hp).__name__ in ("Choice", "Boolean"):  # categories at their index
            choices = list(hp.values) if hasattr(hp, "values") else [False, True]
            xs = [choices.index(v) if v in choices else math.nan for v in values]
            panel.set_xticks(range(len(choices)), [str(c) for c in choices])
            panel.set_xlim(-0.5, len(choices) - 0.5)
        else:
            xs = [math.nan if v is None else float(v) for v in values]
            if getattr(hp, "sampling", None) == "log":
                panel.set_xscale("log")
        panel.scatter(xs, scores, alpha=0.7)
        panel.set(xlabel=hp.name, ylabel=objective)
        panel.grid(alpha=0.3)
    for panel in list(axes.flat)[len(names) :]:
        panel.set_visible(False)
    fig.suptitle(f"{len(scored)} trials: {objective} against each hyperparameter")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return len(scored)
