"""Every claim of the notes, tested: `python -m recipes.claims [NAME ...]`.

Each claim is an experiment on the project's own data, run over several seeds
with the same budget for every arm, and judged by one rule written before any
result was seen (`recipes/claims/verdict.py`): a claim **holds** when the arm
it favours beats the other by more than two standard errors of the mean
per-seed difference, **fails** when the other wins by that margin, and
otherwise shows **no difference**. Results go to `<run-dir>/claims.json` (the
notes' words, the arms, per-seed figures, means and spread, the verdict) with
one PNG per claim; a finished claim is not rerun when the command is repeated,
and an interrupted one goes on from its last measured arm.

    python -m recipes.claims                    # every claim, seeds 0-4
    python -m recipes.claims batch_norm l1_vs_l2 --seeds 0 1 2
    python -m recipes.claims --quick            # the smallest form of each
"""

from __future__ import annotations

import argparse
import datetime
import os

from recipes.claims import (
    cnn_claims,
    linear_claims,
    rate_claims,
    regularization_claims,
    training_claims,
)
from recipes.claims.runner import run_claims

# In the order of the notes' checklist (issue #20's numbering).
ORDER = (
    "init",
    "xavier_fcn",
    "batch_norm",
    "activations",
    "lrn",
    "relu_after_pool",
    "dropout",
    "ensemble",
    "momentum",
    "update_ratio",
    "gradient_clipping",
    "batch_size",
    "small_filters",
    "conv_head",
    "preprocessing",
    "augmentation",
    "svm_vs_softmax",
    "knn_vs_linear",
    "l1_vs_l2",
    "pooling",
)
_ALL = {
    claim.name: claim
    for module in (
        training_claims,
        cnn_claims,
        regularization_claims,
        rate_claims,
        linear_claims,
    )
    for claim in module.CLAIMS
}
CLAIMS = {name: _ALL[name] for name in ORDER}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m recipes.claims",
        description=__doc__.split("\n")[0],
        epilog="claims: " + ", ".join(CLAIMS),
    )
    parser.add_argument("names", nargs="*", help="Claims to run (default: all).")
    parser.add_argument("--quick", action="store_true", help="The smallest form.")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="Seeds (default 0-4; 0 1 with --quick).",
    )
    parser.add_argument("--run-dir", default=None, help="Default runs/claims/<time>.")
    return parser


def _quiet_tensorflow():
    """Many small models retrace; TensorFlow's warning about it says nothing here."""
    try:
        import tensorflow as tf
    except ImportError:
        return
    tf.get_logger().setLevel("ERROR")


def main(argv=None):
    """Runs the claims; returns the content of `claims.json`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in CLAIMS]
    if unknown:
        parser.error(
            f"unknown claims {unknown}; expected names among: {', '.join(CLAIMS)}"
        )
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seeds must differ from each other; received {seeds}")
    run_dir = args.run_dir or os.path.join(
        "runs", "claims", datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    claims = [CLAIMS[n] for n in (args.names or CLAIMS)]
    _quiet_tensorflow()
    content = run_claims(claims, seeds, args.quick, run_dir)
    print(f"claims.json and one picture per claim in {run_dir}")
    return content
