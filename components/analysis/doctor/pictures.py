"""The doctor's pictures: activation histograms, gradient sizes, the LR sweep."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_activations(outputs, path, most=12):
    """Per-layer histograms of activations at init, as in CS231n's
    initialization figures (`outputs`: `[(name, array)]`)."""
    plt = _pyplot()
    shown = outputs[:most]
    fig, axes = plt.subplots(
        1, len(shown), figsize=(2.2 * len(shown), 2.6), squeeze=False
    )
    for ax, (name, values) in zip(axes[0], shown):
        flat = np.asarray(values, "float64").reshape(-1)
        ax.hist(flat[np.isfinite(flat)], bins=40, color="tab:blue")
        ax.set_title(f"{name}\nstd {flat.std():.2g}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    fig.suptitle("activations at init, by layer", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_gradients(rms, path):
    """Per-layer RMS gradient at init, input side on the left, log scale."""
    plt = _pyplot()
    names = list(rms)
    values = [max(rms[n], 1e-30) for n in names]
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(names) + 2), 3))
    ax.bar(range(len(names)), values, color="tab:orange")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("RMS gradient of the kernel")
    ax.set_title("gradients at init, by layer", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_sweep(sweep, configured, path):
    """The range test: smoothed loss against the rate, the suggestion and the
    configured rate marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(sweep.rates, sweep.losses, color="0.75", lw=0.8, label="loss")
    ax.plot(sweep.rates, sweep.smoothed, color="tab:blue", label="smoothed")
    if sweep.burn_in and sweep.burn_in < len(sweep.rates):
        ax.axvspan(
            sweep.rates[0], sweep.rates[sweep.burn_in], color="0.9", label="burn-in"
        )
    if sweep.suggestion:
        ax.axvline(sweep.suggestion, color="tab:green", ls="--", label="suggested")
    ax.axvline(configured, color="tab:red", ls=":", label="configured")
    ax.set_xscale("log")
    finite = [v for v in sweep.smoothed if np.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)) * 1.1)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
