"""What a run is made of: the machinery every recipe shares.

A recipe's `main` narrates its method; everything else about a run comes from
here, the same for every recipe:

- `lifecycle`: `Run`, the life of one run: `Run.start` (parse and validate the
  flags once, seed, make the strategy, check the run directory), `run.open`,
  `run.fit` (the standard callbacks, atomic backups that resume exactly, a stop
  at the first non-finite loss), `run.finish` (model, metrics, closing report).
- `preflight`: what a run refuses before it writes anything (a busy or
  unwritable run directory, a backup made with other flags).
- `flags`: a `Config` dataclass as the command line (`flag`, `parse_config`,
  `--quick`, one-line usage errors).
- `reports`: what a run leaves and says (atomic JSON, histories, curves, the
  closing report).
- `training`: the flags every training recipe shares (`TrainingConfig`: the
  notes' optimizers, schedules, constraint and monitors) turned into a compiled
  model and callbacks; seeding.
- `distribution`: `--strategy` (tf.distribute), chief and worker paths.
- `detecting`: what the detection recipes share (their flags, splits,
  pycocotools scoring, the gallery and the closing report).
- `health`: the doctor's checklist before training (`--doctor`).

This package imports `components` and nothing else of the project: a recipe
imports it, never a sibling recipe.

Example:

```python
from recipes.run import Run, flags, training

@dataclasses.dataclass
class Config(training.TrainingConfig):
    width: int = flags.flag(16, "Width of the network.")

def main(argv=None):
    run = Run.start(Config, argv, "mine", __doc__)
    with run.usage_errors():
        ...  # load the data, build the model
    run.open()
    run.fit(model, train, validation)
    return run.finish(metrics, model=model)
```
"""

from recipes.run.lifecycle import EXIT_DIVERGED, EXIT_USAGE, Run

__all__ = ["EXIT_DIVERGED", "EXIT_USAGE", "Run"]
