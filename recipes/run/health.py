"""`--doctor`: the notes' checklist on a recipe's model before it trains.

A recipe hands over its first model, compiled and fed exactly as it will be
trained; `components.analysis.diagnose` runs the checklist on it. A failed
check stops the run before any training (exit status `EXIT_FAILED`), with
`metrics.json` saying `"status": "doctor_failed"` and the whole diagnosis in
`<run-dir>/doctor/`. `python -m recipes.doctor` is the same checklist as a
recipe of its own.
"""

from __future__ import annotations

from components.analysis.doctor import diagnose
from recipes.run import reports

EXIT_FAILED = 1


def check_before_training(run, model, batches):
    """Diagnoses `model` on its training `batches`; ends the run on a failure.

    Args:
        run: `recipes.run.Run`, opened. The diagnosis goes to its `doctor/`.
        model: A compiled Keras model, as the recipe will train it.
        batches: The recipe's training `tf.data.Dataset` of `(x, y)` batches.

    Returns:
        The `Diagnosis`, when no check failed.
    """
    config = run.config
    # Built and not yet trained: the initialization checks apply.
    diagnosis = diagnose(
        model, batches, seed=config.seed, state="fresh", verbose=min(config.verbose, 1)
    )
    diagnosis.save(run.file("doctor"))
    reports.report([str(diagnosis)])
    if diagnosis.failed:
        failed = [f.check for f in diagnosis.failed]
        run.write_json("metrics.json", {"status": "doctor_failed", "failed": failed})
        reports.report([f"the doctor failed {', '.join(failed)}: not training"])
        run.close()
        raise SystemExit(EXIT_FAILED)
    return diagnosis
