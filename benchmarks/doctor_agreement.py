"""How often the doctor is right: healthy and faulty models, fresh and trained.

Twelve small networks on scikit-learn's digits (8x8, each feature standardized
over the set): six healthy, six with one planted fault each, every fault
aimed at one check. The healthy ones are diagnosed fresh and after training
(Adam 1e-3, 10 epochs); the faulty ones fresh. Each case runs on the arrays in
class order (the way a folder is read) and shuffled.

The rule, fixed before any result was seen: a verdict is right when a healthy
or trained model fails no check, and when a faulty model fails the check its
fault is aimed at (other checks failing as well is reported, not counted
against it). Goal: every fault found, no healthy or trained model failed.
The last line is JSON.

    python -m benchmarks.doctor_agreement
    python -m benchmarks.doctor_agreement --quick   # two healthy, two faulty
"""

from __future__ import annotations

import json
import time

import keras
import numpy as np

from benchmarks.cli import docstring_parser
from components.analysis import diagnose
from components.data import digits_arrays

CLASSES = 10
LOSS = "sparse_categorical_crossentropy"


def standardized_digits():
    images, labels = digits_arrays()
    x = images.reshape(len(images), -1).astype("float64")
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return x.astype("float32"), labels.astype("int32")


def _dense_net(
    widths=(64, 64),
    activation="relu",
    init="he_normal",
    bias="zeros",
    out_init="glorot_uniform",
    batch_norm=False,
    dropout=0.0,
):
    layers = [keras.Input((64,))]
    for index, width in enumerate(widths):
        layers.append(
            keras.layers.Dense(
                width,
                kernel_initializer=init,
                bias_initializer=bias,
                name=f"hidden{index}",
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.Activation(activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(
        keras.layers.Dense(
            CLASSES,
            activation="softmax",
            kernel_initializer=out_init,
            name="scores",
        )
    )
    return keras.Sequential(layers)


def _conv_net(batch_norm=True):
    layers = [keras.Input((64,)), keras.layers.Reshape((8, 8, 1))]
    for index, width in enumerate((16, 32)):
        layers.append(
            keras.layers.Conv2D(
                width,
                3,
                padding="same",
                kernel_initializer="he_normal",
                name=f"conv{index}",
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers += [keras.layers.ReLU(), keras.layers.MaxPooling2D()]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax", name="scores"),
    ]
    return keras.Sequential(layers)


# name -> (build, optimizer, data fault, the check the fault is aimed at)
HEALTHY = {
    "mlp relu he + batch norm": (lambda: _dense_net(batch_norm=True), None, None),
    "mlp tanh glorot": (
        lambda: _dense_net(activation="tanh", init="glorot_uniform"),
        None,
        None,
    ),
    "mlp three layers + dropout": (
        lambda: _dense_net(widths=(128, 64, 64), dropout=0.2),
        None,
        None,
    ),
    "cnn + batch norm": (lambda: _conv_net(True), None, None),
    "cnn": (lambda: _conv_net(False), None, None),
    "mlp sgd momentum 0.05": (
        lambda: _dense_net(),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        None,
    ),
}
FAULTY = {
    "output init std 5": (
        lambda: _dense_net(out_init=keras.initializers.RandomNormal(stddev=5.0)),
        None,
        None,
        "initial_loss",
    ),
    "zero kernels": (lambda: _dense_net(init="zeros"), None, None, "gradient_flow"),
    "sigmoids at std 5": (
        lambda: _dense_net(
            activation="sigmoid", init=keras.initializers.RandomNormal(stddev=5.0)
        ),
        None,
        None,
        "saturation",
    ),
    "relu bias -10": (
        lambda: _dense_net(bias=keras.initializers.Constant(-10.0)),
        None,
        None,
        "dead_units",
    ),
    "sgd at 10": (
        lambda: _dense_net(),
        lambda: keras.optimizers.SGD(10.0),
        None,
        "learning_rate",
    ),
    "labels unrelated to inputs": (
        lambda: _dense_net(),
        None,
        "permute_labels",
        "input_independent",
    ),
}


def _case_data(x, y, order, fault, seed):
    if fault == "permute_labels":
        y = np.random.default_rng(seed + 7).permutation(y)
    if order == "class order":
        index = np.argsort(y, kind="stable")
    else:
        index = np.random.default_rng(seed).permutation(len(y))
    return x[index], y[index]


def _compiled(build, optimizer, seed):
    keras.utils.set_random_seed(seed)
    model = build()
    optimizer = optimizer() if optimizer else keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
    return model


def run_case(x, y, build, optimizer, fault, state, order, seed):
    xs, ys = _case_data(x, y, order, fault, seed)
    model = _compiled(build, optimizer, seed)
    if state == "trained":
        model.fit(xs, ys, epochs=10, batch_size=32, verbose=0, shuffle=True)
    start = time.perf_counter()
    diagnosis = diagnose(model, (xs, ys), seed=seed, verbose=0)
    return diagnosis, time.perf_counter() - start


def main(argv=None):
    parser = docstring_parser("doctor_agreement", __doc__)
    parser.add_argument("--quick", action="store_true", help="Two of each kind.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x, y = standardized_digits()
    healthy = dict(list(HEALTHY.items())[:2] if args.quick else HEALTHY)
    faulty = dict(list(FAULTY.items())[:2] if args.quick else FAULTY)
    cases = [
        (name, *spec, None, state)
        for name, spec in healthy.items()
        for state in ("fresh", "trained")
    ] + [(name, *spec, "fresh") for name, spec in faulty.items()]
    rows = []
    print(f"{'model':30} {'state':8} {'order':12} {'right':6} failed checks")
    for name, build, optimizer, fault, aimed, state in cases:
        for order in ("class order", "shuffled"):
            diagnosis, seconds = run_case(
                x, y, build, optimizer, fault, state, order, args.seed
            )
            failed = [f.check for f in diagnosis.failed]
            right = (aimed in failed) if aimed else not failed
            rows.append(
                {
                    "model": name,
                    "fault": aimed,
                    "state": state,
                    "judged": diagnosis.state["state"],
                    "order": order,
                    "failed": failed,
                    "right": right,
                    "seconds": round(seconds, 1),
                }
            )
            print(
                f"{name:30} {state:8} {order:12} {'yes' if right else 'NO':6} "
                f"{', '.join(failed) or '-'}",
                flush=True,
            )
            keras.backend.clear_session()
    found = [r for r in rows if r["fault"]]
    sound = [r for r in rows if not r["fault"]]
    result = {
        "right": sum(r["right"] for r in rows),
        "verdicts": len(rows),
        "faults_found": sum(r["right"] for r in found),
        "faulty_cases": len(found),
        "healthy_or_trained_failed": sum(not r["right"] for r in sound),
        "healthy_or_trained_cases": len(sound),
        "trained_judged_trained": sum(
            r["judged"] == "trained" for r in sound if r["state"] == "trained"
        ),
        "rows": rows,
    }
    print(
        f"right: {result['right']} of {result['verdicts']}; faults found "
        f"{result['faults_found']} of {result['faulty_cases']}; healthy or trained "
        f"models failed {result['healthy_or_trained_failed']} of "
        f"{result['healthy_or_trained_cases']}; trained models judged trained "
        f"{result['trained_judged_trained']} of "
        f"{sum(r['state'] == 'trained' for r in sound)}"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
