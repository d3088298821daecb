"""The one verdict rule every claim is judged by, fixed before any result.

A claim favours one arm over another. Over seeds, the per-seed differences
`favoured - other` (signed so that positive means the favoured arm did
better) have a mean and a standard error of the mean. The claim **holds**
when the mean exceeds two standard errors, **fails** when it falls below minus
two, and otherwise there is **no difference** (at this many seeds). A claim
that two arms are comparable favours neither: "no difference" agrees with it.
"""

from __future__ import annotations

import math

import numpy as np

HOLDS, FAILS, NO_DIFFERENCE = "holds", "fails", "no difference"
MARGIN = 2.0  # standard errors


def verdict(favoured, other, higher_is_better=True):
    """Judges per-seed figures of the favoured arm against the other's.

    Args:
        favoured: Sequence of floats, one per seed.
        other: Sequence of floats, the same seeds in the same order.
        higher_is_better: Boolean. `False` for times, losses, error rates.

    Returns:
        A dict: `verdict` (`"holds"`, `"fails"` or `"no difference"`),
        `mean_difference` (favoured better when positive), `standard_error`,
        `seeds`.

    Example:

    >>> verdict([0.95, 0.96, 0.97], [0.90, 0.91, 0.90])["verdict"]
    'holds'
    >>> verdict([1.0, 1.1, 0.9], [1.5, 1.6, 1.4], higher_is_better=False)["verdict"]
    'holds'
    >>> verdict([0.9, 0.95], [0.92, 0.91])["verdict"]
    'no difference'
    """
    favoured = np.asarray(favoured, "float64")
    other = np.asarray(other, "float64")
    if favoured.shape != other.shape or favoured.ndim != 1 or len(favoured) == 0:
        raise ValueError(
            "Expected one figure per seed for both arms, the same seeds; received "
            f"shapes {favoured.shape} and {other.shape}."
        )
    differences = favoured - other if higher_is_better else other - favoured
    mean = float(differences.mean())
    count = len(differences)
    error = float(differences.std(ddof=1) / math.sqrt(count)) if count > 1 else math.inf
    if count > 1 and mean > MARGIN * error:
        result = HOLDS
    elif count > 1 and mean < -MARGIN * error:
        result = FAILS
    else:
        result = NO_DIFFERENCE
    return {
        "verdict": result,
        "mean_difference": mean,
        "standard_error": error,
        "seeds": count,
    }
