import json
import os

import numpy as np
import pytest

from components import transfer as components_transfer
from recipes import transfer
from recipes.run import flags
from recipes.transfer import networks, targets
from recipes.transfer.config import QUICK, Config

# Tiny but complete: every regime, every strategy, a cached source model.
TINY = [
    "--quick",
    "--image-size",
    "12",
    "--small-per-class",
    "3",
    "--large-per-class",
    "12",
    "--small-below",
    "10",
    "--source-epochs",
    "2",
    "--epochs",
    "2",
    "--fine-tune-epochs",
    "1",
    "--head-epochs",
    "5",
]


def test_quick_run_fills_the_two_by_two_table(tmp_path, capsys):
    run_dir = tmp_path / "run"
    metrics = transfer.main([*TINY, "--run-dir", str(run_dir)])
    regimes = {r["regime"]: r for r in metrics["regimes"]}
    assert sorted(regimes) == [
        "large_different",
        "large_similar",
        "small_different",
        "small_similar",
    ]
    for name, regime in regimes.items():
        assert set(regime["accuracies"]) == set(components_transfer.STRATEGIES)
        assert all(0.0 <= v <= 1.0 for v in regime["accuracies"].values())
        best = max(regime["accuracies"].values())
        assert regime["accuracies"][regime["winner"]] == best
        size, similarity = name.split("_")
        expected = components_transfer.recommend_regime(
            regime["examples_per_class"], similarity == "similar", 10
        )
        assert regime["recommended"] == expected.strategy
        assert regime["examples_per_class"] == (3 if size == "small" else 12)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["regimes"] == json.loads(json.dumps(metrics["regimes"]))
    for name in (
        "config.json",
        "regimes.png",
        "source/model.keras",
        "source/source.json",
    ):
        assert (run_dir / name).exists(), name
    out = capsys.readouterr().out
    assert "similar" in out and "different" in out and "(notes)" in out

    # The source model is cached: a second preparation reuses the file.
    config = flags.apply_quick(Config(**_tiny_config(run_dir)), QUICK)
    stamp = os.stat(run_dir / "source" / "model.keras").st_mtime_ns
    path = networks.prepare_source(config, _Run(run_dir))
    assert os.stat(path).st_mtime_ns == stamp


class _Run:
    def __init__(self, path):
        self.path = str(path)

    def file(self, name):
        return os.path.join(self.path, name)


def _tiny_config(run_dir):
    values = {}
    flags = iter(TINY[1:])
    for flag, value in zip(flags, flags):
        values[flag[2:].replace("-", "_")] = int(value)
    return {**values, "quick": True, "run_dir": str(run_dir)}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--early-layer", "stage9_conv"], "layer_name"),
        (["--source", "imagenet"], "source"),
        (["--source", "keras:VGG16"], "VGG"),
        (["--similar", "mnist"], "similar"),
        (["--small-per-class", "60"], "small"),
        (["--grid", "0"], "grid"),
        (["--weights", "random"], "weights"),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        transfer.main([*argv, "--run-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_target_can_be_your_own_class_folders(tmp_path):
    from tests.own_datasets import write_class_folders

    write_class_folders(tmp_path, per_class=20)
    config, _ = flags.parse_config(Config, ["--quick"], "", "", QUICK)
    target = targets.load_target(config, f"dir:{tmp_path}")
    # Resized to the recipe's images and made grey for the digits source.
    assert target.num_classes == 3
    assert target.train[0].shape[1:] == (config.image_size, config.image_size, 1)
    assert len(target.train[0]) + len(target.test[0]) == 20 * 3 - 6  # 10% validation
    assert np.bincount(target.test[1]).tolist() == [4, 4, 4]


def test_a_target_with_one_class_is_refused():
    images = np.zeros((6, 8, 8, 1), "float32")
    one_class = targets.Target(
        "flat", (images, np.zeros(6, "int32")), (images, np.zeros(6, "int32")), 1
    )
    with pytest.raises(ValueError, match="fewer than two classes"):
        targets.sample(one_class, 3, seed=0)


def test_keras_applications_source_gives_codes_and_a_trainable_copy():
    config = Config(source="keras:MobileNetV2", weights="none", image_size=32)
    config.validate()
    preprocessing, network, top = networks.load_pretrained(config, None)
    assert top.output.shape == (None, 1280)
    assert components_transfer.default_early_layer(network) in [
        layer.name for layer in network.layers
    ]
    scratch = networks.scratch_model(config, np.zeros((2, 32, 32, 3), "float32"), 5)
    assert scratch.output.shape == (None, 5)
