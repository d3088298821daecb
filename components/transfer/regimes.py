"""The notes' transfer-learning table: which strategy for which new dataset."""

from __future__ import annotations

import dataclasses

from components.checks import invalid_value

STRATEGIES = ("linear_top", "linear_early", "fine_tune", "scratch")

_NOTES = {
    ("small", "similar"): (
        "linear_top",
        "Since the data is small, it is not a good idea to fine-tune the ConvNet "
        "due to overfitting concerns. Since the data is similar to the original "
        "data, we expect higher-level features in the ConvNet to be relevant to "
        "this dataset as well. Hence, the best idea might be to train a linear "
        "classifier on the CNN codes.",
    ),
    ("large", "similar"): (
        "fine_tune",
        "Since we have more data, we can have more confidence that we won't "
        "overfit if we were to try to fine-tune through the full network.",
    ),
    ("small", "different"): (
        "linear_early",
        "Since the data is small, it is likely best to only train a linear "
        "classifier. Since the dataset is very different, it might not be best "
        "to train the classifier from the top of the network, which contains more "
        "dataset-specific features. Instead, it might work better to train the "
        "SVM classifier from activations somewhere earlier in the network.",
    ),
    ("large", "different"): (
        "fine_tune",
        "Since the dataset is very large, we may expect that we can afford to "
        "train a ConvNet from scratch. However, in practice it is very often "
        "still beneficial to initialize with weights from a pretrained model. In "
        "this case, we would have enough data and confidence to fine-tune through "
        "the entire network.",
    ),
}


@dataclasses.dataclass(frozen=True)
class Regime:
    """One cell of the notes' 2 x 2 table.

    Attributes:
        size: `"small"` or `"large"`.
        similarity: `"similar"` or `"different"`.
        strategy: One of `STRATEGIES`: what the notes recommend.
        reason: The notes' own words for the recommendation.
    """

    size: str
    similarity: str
    strategy: str
    reason: str

    @property
    def name(self):
        return f"{self.size}_{self.similarity}"


def recommend_regime(examples_per_class, similar, small_below=50):
    """Picks the notes' transfer-learning strategy for a new dataset.

    The notes give no number for "small"; here a dataset is small when it has
    fewer than `small_below` training examples per class (a linear classifier
    on a few hundred features is then about all the data can fit), and large
    otherwise.

    Args:
        examples_per_class: Positive number. Training examples per class (the
            smallest class's count, for an unbalanced set).
        similar: Boolean. Whether the new data resembles the data the network
            was pretrained on.
        small_below: Positive integer. The threshold between small and large.

    Returns:
        A `Regime` with the strategy and the notes' reason.

    Example:

    >>> regime = recommend_regime(10, similar=False)
    >>> regime.name, regime.strategy
    ('small_different', 'linear_early')
    >>> recommend_regime(500, similar=True).strategy
    'fine_tune'
    """
    if not isinstance(examples_per_class, (int, float)) or examples_per_class <= 0:
        raise ValueError(
            invalid_value("examples_per_class", examples_per_class, "a number > 0")
        )
    if not isinstance(similar, bool):
        raise ValueError(invalid_value("similar", similar, "True or False"))
    if not isinstance(small_below, int) or small_below < 1:
        raise ValueError(invalid_value("small_below", small_below, "an integer >= 1"))
    size = "small" if examples_per_class < small_below else "large"
    similarity = "similar" if similar else "different"
    strategy, reason = _NOTES[(size, similarity)]
    return Regime(size, similarity, strategy, reason)
