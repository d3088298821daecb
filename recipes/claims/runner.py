"""Runs claims over seeds into `<run-dir>/claims.json`, resuming where it stopped.

Every (claim, arm, seed) result is written to `claims.json` (atomically) as
soon as it is measured, so an interrupted command repeated goes on from the
next one; a finished claim (every arm at every seed, with the same settings)
is not rerun.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np

from recipes.claims.claim import judge, overall
from recipes.claims.pictures import plot_claim, plot_layer_std
from recipes.claims.report import markdown
from recipes.run import reports

NUMBERS = (int, float, np.integer, np.floating)


def _load(path):
    if not os.path.isfile(path):
        return {"claims": {}}
    with open(path) as f:
        return json.load(f)


def _summary(values):
    values = [float(v) for v in values]
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def run_claim(claim, seeds, quick, state, save, log=print):
    """Measures `claim` (resuming from `state`), judges it, returns its entry."""
    settings = {"seeds": list(seeds), "quick": bool(quick)}
    entry = state.get(claim.name)
    if entry is None or entry.get("settings") != settings:
        entry = {"settings": settings, "results": {}}
    results = entry["results"]
    for seed in seeds:
        for arm in claim.arms:
            key = f"{arm}/{seed}"
            if key in results:
                continue
            start = time.perf_counter()
            measured = claim.run(arm, seed, quick)
            figures = {
                k: float(v) for k, v in measured.items() if isinstance(v, NUMBERS)
            }
            figures["seconds"] = round(time.perf_counter() - start, 2)
            results[key] = figures
            # What a claim measures beside numbers (per-layer profiles...),
            # kept from the first seed of each arm.
            others = {k: v for k, v in measured.items() if k not in figures}
            if others and seed == seeds[0]:
                entry.setdefault("details", {})[arm] = others
            state[claim.name] = entry
            save()
            log(
                f"  {claim.name}: {arm}, seed {seed}: {claim.metric} "
                f"{figures[claim.metric]:.4g} ({figures['seconds']:.1f} s)"
            )
    per_seed = {
        arm: [results[f"{arm}/{seed}"][claim.metric] for seed in seeds]
        for arm in claim.arms
    }
    figures = sorted({k for r in results.values() for k in r})
    judged = judge(claim, per_seed)
    first = entry.get("details", {}).get(claim.arms[0], {})
    entry.update(
        **first,
        words=claim.words,
        experiment=claim.experiment,
        paper=claim.paper,
        arms=list(claim.arms),
        metric=claim.metric,
        higher_is_better=claim.higher_is_better,
        per_seed=per_seed,
        summary={arm: _summary(v) for arm, v in per_seed.items()},
        figures={
            arm: {
                name: statistics.median(
                    results[f"{arm}/{seed}"][name] for seed in seeds
                )
                for name in figures
                if all(name in results[f"{arm}/{seed}"] for seed in seeds)
            }
            for arm in claim.arms
        },
        comparisons=judged,
        verdict=overall(judged),
        done=True,
    )
    state[claim.name] = entry
    save()
    return entry


def run_claims(claims, seeds, quick, run_dir, log=print):
    """Runs every claim; returns the `claims.json` content."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "claims.json")
    content = _load(path)
    state = content.setdefault("claims", {})

    def save():
        reports.atomic_write_json(path, content)

    for claim in claims:
        entry = state.get(claim.name, {})
        settings = {"seeds": list(seeds), "quick": bool(quick)}
        if entry.get("done") and entry.get("settings") == settings:
            log(f"{claim.name}: done before ({entry['verdict']}), not rerun")
            continue
        log(f"{claim.name}: {claim.words}")
        entry = run_claim(claim, seeds, quick, state, save, log)
        plot_claim(entry, claim.name, os.path.join(run_dir, f"{claim.name}.png"))
        if "per_layer_std" in entry:  # init: CS231n's figure beside the verdict
            picture = os.path.join(run_dir, f"{claim.name}_layers.png")
            plot_layer_std(entry["per_layer_std"], picture)
        log(f"{claim.name}: {entry['verdict']}")
    with open(os.path.join(run_dir, "claims.md"), "w") as f:
        f.write(markdown(content, [c.name for c in claims]))
    return content
