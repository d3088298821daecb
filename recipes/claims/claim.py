"""A claim of the notes as an experiment: arms, a figure per seed, comparisons."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from recipes.claims.verdict import FAILS, HOLDS, NO_DIFFERENCE, verdict

BETTER, COMPARABLE = "better", "comparable"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One judged pair: the notes say `first` is better than `second`
    (`says="better"`) or that the two are comparable (`says="comparable"`)."""

    first: str
    second: str
    says: str = BETTER


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the notes and the experiment that tests it.

    Attributes:
        name: String. The claim's ID (`python -m recipes.claims NAME`).
        words: String. The notes' own words.
        experiment: String. What is run, on what data, with which budget.
        paper: String. What the literature reported, to set beside ours.
        arms: Tuple of strings. The variants, each run once per seed.
        metric: String. The figure judged (a key of `run`'s result).
        higher_is_better: Boolean.
        comparisons: Tuple of `Comparison`s judged by the verdict rule.
        run: Callable `(arm, seed, quick) -> dict` of figures, `metric` among
            them; the same budget for every arm.
    """

    name: str
    words: str
    experiment: str
    paper: str
    arms: tuple
    metric: str
    higher_is_better: bool
    comparisons: tuple
    run: Callable = dataclasses.field(repr=False, compare=False)


def judge(claim, per_seed):
    """Every comparison's verdict and whether it agrees with the notes.

    `per_seed[arm]` lists the metric per seed (the same seeds for every arm).
    """
    judged = []
    for comparison in claim.comparisons:
        result = verdict(
            per_seed[comparison.first],
            per_seed[comparison.second],
            claim.higher_is_better,
        )
        expected = HOLDS if comparison.says == BETTER else NO_DIFFERENCE
        judged.append(
            {
                "first": comparison.first,
                "second": comparison.second,
                "notes_say": comparison.says,
                **result,
                "agrees_with_notes": result["verdict"] == expected,
            }
        )
    return judged


def overall(judged):
    """The claim's verdict: `fails` if any comparison goes against the notes
    by the margin, `holds` if every one agrees, else `no difference`."""
    if any(
        j["verdict"] == FAILS
        or (j["notes_say"] == COMPARABLE and j["verdict"] == HOLDS)
        for j in judged
    ):
        return FAILS
    if all(j["agrees_with_notes"] for j in judged):
        return HOLDS
    return NO_DIFFERENCE
