"""`python -m recipes.claims`: the verdict rule on made-up figures, every
claim's quick form, and resuming."""

import json

import keras
import numpy as np
import pytest

from recipes import claims
from recipes.claims import kit
from recipes.claims.claim import COMPARABLE, Claim, Comparison, judge, overall
from recipes.claims.runner import run_claims
from recipes.claims.verdict import verdict


@pytest.mark.parametrize(
    "favoured, other, higher, expected",
    [
        ([0.95, 0.96, 0.97], [0.90, 0.91, 0.90], True, "holds"),
        ([0.90, 0.91, 0.90], [0.95, 0.96, 0.97], True, "fails"),
        ([0.90, 0.95, 0.92], [0.92, 0.91, 0.93], True, "no difference"),
        ([1.0, 1.1, 0.9], [1.5, 1.6, 1.4], False, "holds"),  # times: lower wins
        ([0.9], [0.1], True, "no difference"),  # one seed: no spread, no verdict
        ([0.5, 0.6], [0.4, 0.5], True, "holds"),  # equal gaps: zero spread
        ([0.5, 0.5], [0.5, 0.5], True, "no difference"),
    ],
)
def test_the_verdict_rule_on_made_up_figures(favoured, other, higher, expected):
    assert verdict(favoured, other, higher)["verdict"] == expected


def test_two_standard_errors_is_the_margin():
    # Differences 1 +- s: mean 1, standard error s / sqrt(2) * sqrt(2) = s.
    just_below = verdict([2.0 + 0.49, 2.0 - 0.49], [1.0, 1.0])
    assert just_below["standard_error"] == pytest.approx(0.49)
    assert just_below["verdict"] == "holds"  # 1 > 2 * 0.49
    assert verdict([2.0 + 0.51, 2.0 - 0.51], [1.0, 1.0])["verdict"] == "no difference"
    with pytest.raises(ValueError, match="one figure per seed"):
        verdict([1.0, 2.0], [1.0])


def _claim(says, run=lambda arm, seed, quick: {"score": 0.0}):
    return Claim(
        "made_up",
        "words",
        "experiment",
        "paper",
        ("a", "b"),
        "score",
        True,
        (Comparison("a", "b", says),),
        run,
    )


def test_a_comparable_claim_holds_on_no_difference_and_fails_on_a_winner():
    even = judge(_claim(COMPARABLE), {"a": [0.5, 0.6, 0.5], "b": [0.6, 0.5, 0.5]})
    assert overall(even) == "holds" and even[0]["agrees_with_notes"]
    apart = judge(_claim(COMPARABLE), {"a": [0.9, 0.9, 0.91], "b": [0.5, 0.5, 0.52]})
    assert overall(apart) == "fails"
    better = judge(_claim("better"), {"a": [0.5, 0.6, 0.5], "b": [0.6, 0.5, 0.5]})
    assert overall(better) == "no difference"


def _relu_after_pool(entry, figures, tmp_path):
    # Max pooling and ReLU commute: the two orders give the same outputs.
    assert figures["relu_then_pool"]["max_difference"] == 0.0


def _small_filters(entry, figures, tmp_path):
    # Same receptive field, 27 C^2 against 49 C^2 kernel weights (C = 8 when
    # quick).
    assert figures["three_3x3"]["stack_weights"] == 27 * 64
    assert figures["one_7x7"]["stack_weights"] == 49 * 64


def _knn_vs_linear(entry, figures, tmp_path):
    assert figures["knn"]["test_accuracy"] > 0.9


def _init(entry, figures, tmp_path):
    # CS231n's figure: at 0.01 N(0, 1) the tanh activations shrink layer by
    # layer to nothing; Xavier keeps them.
    stds = entry["per_layer_std"]
    assert len(stds["tanh"]["small"]) == 10
    assert stds["tanh"]["small"][-1] < 1e-3 * stds["tanh"]["small"][0]
    assert stds["tanh"]["xavier"][-1] > 0.1 * stds["tanh"]["xavier"][0]
    assert (tmp_path / "init_layers.png").exists()


def _ensemble(entry, figures, tmp_path):
    # Equal parameters for the ensemble (within 1%).
    single = figures["single"]["parameters"]
    assert abs(figures["ensemble"]["parameters"] / single - 1) < 0.01


def _dropout(entry, figures, tmp_path):
    assert len(entry["details"]["dropout"]["curve"]) == 4  # the curve is kept


SPECIFIC = {
    "relu_after_pool": _relu_after_pool,
    "small_filters": _small_filters,
    "knn_vs_linear": _knn_vs_linear,
    "init": _init,
    "ensemble": _ensemble,
    "dropout": _dropout,
}


# One test per claim (not one for all): pytest-xdist spreads them over the
# workers, where a single test of every claim ran two minutes on one.
@pytest.mark.parametrize("name", list(claims.CLAIMS))
def test_each_claim_in_its_quick_form(name, tmp_path, capsys):
    content = claims.main(["--quick", name, "--run-dir", str(tmp_path)])
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved == json.loads(json.dumps(content))
    assert set(saved["claims"]) == {name}
    entry, claim = saved["claims"][name], claims.CLAIMS[name]
    assert entry["words"] == claim.words and entry["arms"] == list(claim.arms)
    for arm in claim.arms:
        values = entry["per_seed"][arm]
        assert len(values) == 2 and all(np.isfinite(values))
        assert entry["summary"][arm]["mean"] == pytest.approx(np.mean(values))
    # The verdict follows the rule from the saved figures.
    for judged in entry["comparisons"]:
        again = verdict(
            entry["per_seed"][judged["first"]],
            entry["per_seed"][judged["second"]],
            claim.higher_is_better,
        )
        assert judged["verdict"] == again["verdict"]
    assert entry["verdict"] == overall(entry["comparisons"])
    assert (tmp_path / f"{name}.png").exists()
    if name in SPECIFIC:
        SPECIFIC[name](entry, entry["figures"], tmp_path)
    assert (tmp_path / "claims.md").read_text().count("\n| `") == 1
    # Repeated, nothing is rerun.
    capsys.readouterr()
    claims.main(["--quick", name, "--run-dir", str(tmp_path)])
    assert capsys.readouterr().out.count("not rerun") == 1


def test_the_kit_builds_the_same_weights_from_the_same_seed():
    def weights(seed):
        model = kit.mlp(
            [8, 8],
            input_shape=(8,),
            init=lambda fan_in: keras.initializers.RandomNormal(stddev=fan_in**-0.5),
            seed=seed,
        )
        return model.get_weights()

    first, again, other = weights(0), weights(0), weights(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    # One initializer per layer: a shared one would repeat its seed.
    assert not np.array_equal(first[0], first[2])


def test_the_specific_checks_name_real_claims():
    assert set(SPECIFIC) <= set(claims.CLAIMS)


class Killed(Exception):
    """Stands for the process dying mid-claim."""


def test_an_interrupted_claim_goes_on_from_its_last_measured_arm(tmp_path):
    calls, killed = [], []

    def run(arm, seed, quick):
        calls.append((arm, seed))
        if len(calls) == 3 and not killed:
            killed.append(True)
            raise Killed
        return {"score": float(seed) + (arm == "a")}

    claim = _claim("better", run)
    with pytest.raises(Killed):
        run_claims([claim], [0, 1, 2], True, str(tmp_path), log=lambda *_: None)
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert sorted(saved["claims"]["made_up"]["results"]) == ["a/0", "b/0"]
    calls.clear()
    content = run_claims([claim], [0, 1, 2], True, str(tmp_path), log=lambda *_: None)
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    entry = content["claims"]["made_up"]
    assert entry["per_seed"] == {"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 2.0]}
    assert entry["verdict"] == "holds"


def test_unknown_claims_and_repeated_seeds_are_refused(capsys):
    for argv, message in (
        (["nonsense"], "unknown claims"),
        (["--seeds", "1", "1"], "differ"),
    ):
        with pytest.raises(SystemExit) as info:
            claims.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
