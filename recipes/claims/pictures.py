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


def plot_layer_std(per_layer_std, path):
    """CS231n's initialization figure: each layer's activation std at init,
    per activation and initialization (`init`'s `per_layer_std`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    activations = list(per_layer_std)
    fig, axes = plt.subplots(1, len(activations), figsize=(4.2 * len(activations), 3.2))
    for ax, activation in zip(np.atleast_1d(axes), activations):
        for init, stds in per_layer_std[activation].items():
            layers = range(1, len(stds) + 1)
            ax.plot(layers, np.maximum(stds, 1e-12), marker="o", ms=3, label=init)
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel("activation std at init")
        ax.set_title(activation, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
