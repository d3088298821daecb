"""A search folder's files, checked before KerasTuner reloads them.

KerasTuner writes `oracle.json` and each `trial_*/trial.json` in place; a
search killed during one of those writes (or a full disk) leaves a truncated
file, and the next start ends in a `JSONDecodeError` traceback from inside
KerasTuner. Here a damaged trial is moved aside and forgotten by the oracle,
so its slot is run again; a damaged oracle, which holds the search's own
state, is a one-line error naming the file and what to do.
"""

from __future__ import annotations

import glob
import json
import os
import warnings

from recipes.run import reports


def _read(path):
    with open(path) as f:
        return json.load(f)


def check_project(project_dir):
    """Repairs what can be repaired in `project_dir`; returns the trials moved.

    Raises:
        ValueError: `oracle.json` cannot be read.
    """
    oracle_path = os.path.join(project_dir, "oracle.json")
    if not os.path.exists(oracle_path):
        return []
    try:
        oracle = _read(oracle_path)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"The search's state {oracle_path} is damaged ({type(error).__name__}); "
            f"the finished trials are kept in {project_dir}/trial_*/. Start afresh "
            "with another --project-name, or remove the folder."
        ) from None
    moved = []
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        try:
            _read(path)
            continue
        except (OSError, ValueError) as error:
            reason = type(error).__name__
        folder = os.path.dirname(path)
        trial_id = os.path.basename(folder)[len("trial_") :]  # as KerasTuner names it
        aside = os.path.join(project_dir, f"damaged-{os.path.basename(folder)}")
        os.replace(folder, aside)
        forget(oracle, trial_id)
        moved.append(trial_id)
        warnings.warn(
            f"{path} is damaged ({reason}); moved aside to {aside}: the search "
            "runs that trial's slot again.",
            stacklevel=2,
        )
    if moved:
        reports.atomic_write_json(oracle_path, oracle)
    return moved


def forget(oracle, trial_id):
    """Removes every mention of `trial_id` from an oracle's saved state."""
    for key in ("start_order", "end_order", "retry_queue"):
        if key in oracle:
            oracle[key] = [t for t in oracle[key] if str(t) != trial_id]
    ongoing = oracle.get("ongoing_trials", {})
    for tuner_id in [k for k, v in ongoing.items() if str(v) == trial_id]:
        del ongoing[tuner_id]
    oracle.get("run_times", {}).pop(trial_id, None)
    values_hash = oracle.get("id_to_hash", {}).pop(trial_id, None)
    if values_hash is not None and "tried_so_far" in oracle:
        oracle["tried_so_far"] = [h for h in oracle["tried_so_far"] if h != values_hash]
