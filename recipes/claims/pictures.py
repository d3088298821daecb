"""One picture per claim: each arm's figure per seed and its mean."""

from __future__ import annotations

import numpy as np


def plot_claim(entry, name, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = entry["arms"]
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(arms) + 1.5), 3.2))
    for index, arm in enumerate(arms):
        values = entry["per_seed"][arm]
        ax.scatter([index] * len(values), values, color="0.5", s=14, zorder=3)
        ax.bar(index, np.mean(values), color="tab:blue", alpha=0.6)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms, rotation=20, ha="right", fontsize=8)
    better = "higher" if entry["higher_is_better"] else "lower"
    ax.set_ylabel(f"{entry['metric']} ({better} is better)", fontsize=8)
    ax.set_title(f"{name}: {entry['verdict']}", fontsize=9)
    values = [v for arm in arms for v in entry["per_seed"][arm]]
    low, high = min(values), max(values)
    if low > 0 and high / max(low, 1e-12) > 100:
        ax.set_yscale("log")
    elif high > low:
        pad = 0.15 * (high - low)
        ax.set_ylim(max(low - pad, 0) if low >= 0 else low - pad, high + pad)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
