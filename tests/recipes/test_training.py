import keras
import numpy as np
import pytest

from recipes import classify, yolo
from recipes.run import flags, training


def rates_at(config, steps_per_epoch, steps):
    """The compiled optimizer's learning rate after each of `steps` updates."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    training.compile_model(config, model, steps_per_epoch, "mse", metrics=())
    optimizer = model.optimizer
    rates = []
    for step in steps:
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    return np.array(rates)


def test_warmup_rises_linearly_from_zero_then_follows_the_cosine():
    # 4 epochs of 10 steps, 1.5 of them warm-up: 15 steps up, 25 down.
    config, _ = flags.parse_config(
        yolo.Config,
        ["--epochs", "4", "--learning-rate", "0.02", "--warmup-epochs", "1.5"],
        "",
        "",
    )
    steps = [0, 1, 5, 14, 15, 20, 27, 39, 40, 55]
    by_hand = [
        0.02 * s / 15 if s < 15 else 0.01 * (1 + np.cos(np.pi * min(s - 15, 25) / 25))
        for s in steps
    ]
    np.testing.assert_allclose(rates_at(config, 10, steps), by_hand, atol=1e-8)
    assert rates_at(config, 10, [15])[0] == pytest.approx(0.02)  # the peak


def test_without_a_warmup_the_cosine_starts_at_the_rate():
    config = training.TrainingConfig(epochs=4, learning_rate=0.02)
    steps = [0, 10, 20, 40]
    by_hand = [0.01 * (1 + np.cos(np.pi * s / 40)) for s in steps]
    np.testing.assert_allclose(rates_at(config, 10, steps), by_hand, atol=1e-8)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "3", "--warmup-epochs", "3"], "warmup_epochs"),
        (["--warmup-epochs", "-1"], "warmup_epochs"),
        (
            ["--warmup-epochs", "1", "--lr-schedule", "step"],
            "needs --lr-schedule cosine",
        ),
    ],
)
def test_a_warmup_it_cannot_give_is_a_one_line_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_config(classify.Config, argv, "", "")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
