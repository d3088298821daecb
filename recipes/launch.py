"""Runs a recipe as N TensorFlow workers on this machine, to try multi-worker out.

    python -m recipes.launch --workers 2 -- \\
        python -m recipes.classify --strategy multiworker --run-dir runs/mw

Each worker gets its own `TF_CONFIG` (the same cluster of N local ports, its
own task index) and runs the command after `--`. Worker 0 is the chief: its
output is shown here and it writes the run directory; the others log to
`<log-dir>/worker<i>.log` and save under `<run-dir>/workers/<i>`. If a worker
fails, the others are stopped at once and the failure is reported (a
collective op would otherwise wait forever for the missing worker); the whole
run is bounded by `--timeout`.

On several machines, run the same command on each with `TF_CONFIG` set by
hand (the same `cluster`, a different `task.index` per machine):

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m recipes.classify --strategy multiworker --run-dir /shared/run
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

from recipes.run import flags


def free_ports(count, host="localhost"):
    """`count` distinct ports free right now (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind((host, 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def tf_configs(ports, host="localhost"):
    """The `TF_CONFIG` of every worker of a local cluster."""
    cluster = {"worker": [f"{host}:{port}" for port in ports]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(len(ports))
    ]


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait()


def run_workers(command, workers, log_dir, timeout, poll=0.2):
    """Starts the workers and waits; returns `(exit_code, message)`.

    0 when every worker succeeded. A worker that fails (or a run past
    `timeout` seconds) stops the others and returns 1 with a one-line reason.
    """
    os.makedirs(log_dir, exist_ok=True)
    configs = tf_configs(free_ports(workers))
    processes, logs = [], []
    try:
        for index, config in enumerate(configs):
            env = {**os.environ, "TF_CONFIG": config}
            if index == 0:
                processes.append(subprocess.Popen(command, env=env))
                continue
            log = open(os.path.join(log_dir, f"worker{index}.log"), "w")  # noqa: SIM115
            logs.append(log)
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [process.poll() for process in processes]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                where = (
                    "above"
                    if index == 0
                    else os.path.join(log_dir, f"worker{index}.log")
                )
                return 1, (
                    f"worker {index} failed with exit status {code}; the other "
                    f"workers were stopped (its output: {where})"
                )
            if all(code == 0 for code in codes):
                return 0, f"{workers} workers finished"
            time.sleep(poll)
        return 1, f"the workers did not finish within {timeout:g} s and were stopped"
    finally:
        stop(processes)
        for log in logs:
            log.close()


def main(argv=None):
    parser = flags.OneLineParser(
        prog="python -m recipes.launch",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before giving up"
    )
    parser.add_argument(
        "--log-dir", default="runs/launch", help="logs of the workers other than 0"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.workers < 1:
        parser.error(
            "Invalid value received for argument `workers`. Expected an integer "
            f">= 1. Received: workers={args.workers}"
        )
    if not command:
        parser.error(
            "give the command to run after --, e.g. -- python -m recipes.classify"
        )
    if not args.timeout > 0:
        parser.error(
            f"Invalid value received for argument `timeout`. Expected > 0. Received: timeout={args.timeout}"
        )
    code, message = run_workers(command, args.workers, args.log_dir, args.timeout)
    sys.stderr.write(f"recipes.launch: {message}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
