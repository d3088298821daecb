"""Runs a recipe as N processes on this machine: multi-worker, tried out locally.

    KERAS_BACKEND=jax python -m recipes.launch --workers 2 -- \\
        python -m recipes.classify --strategy data-parallel --run-dir runs/dp
    python -m recipes.launch --workers 2 -- \\
        python -m recipes.classify --strategy multiworker --run-dir runs/mw

Each process gets the cluster in both forms: `TF_CONFIG` (the same cluster
of N local ports, its own task index) for TensorFlow's `multiworker`, and
`KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator), `..._NUM_PROCESSES`
and `..._PROCESS_ID` for `data-parallel` on JAX (`keras.distribution`).
Worker 0 writes the run directory and the backups; its output is shown
here. Every worker's output is kept in `<log-dir>/worker<i>.log`; the
others save under `<run-dir>/workers/<i>`. If a worker fails or dies, the
others are stopped at once and the worker is named with its last lines of
output (a collective op would otherwise wait for ever for the missing
worker), and the exit status is 1; with `--backup-dir`, the same command
resumes every process from the last backup. The whole run is bounded by
`--timeout`.

On several machines, run the recipe on each with the variables set by hand:
for JAX, the same coordinator and count and a different process id each

    KERAS_BACKEND=jax KERAS_DISTRIBUTION_JOB_ADDRESSES=10.0.0.1:12345 \\
    KERAS_DISTRIBUTION_NUM_PROCESSES=2 KERAS_DISTRIBUTION_PROCESS_ID=0 \\
        python -m recipes.classify --strategy data-parallel --run-dir /shared/run

and for TensorFlow the same `cluster` and a different `task.index` each:

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m recipes.classify --strategy multiworker --run-dir /shared/run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
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


def jax_environments(ports, host="localhost"):
    """The `keras.distribution.initialize` variables of every process of a
    local cluster (the coordinator is process 0's port)."""
    return [
        {
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"{host}:{ports[0]}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(ports)),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
        }
        for index in range(len(ports))
    ]


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


def _echo(source, sink, log):
    """Copies worker 0's output to the terminal and to its log, line by line."""
    for line in iter(source.readline, b""):
        sink.write(line)
        sink.flush()
        log.write(line)
        log.flush()


def last_lines(path, count=5):
    """The last `count` non-empty lines of a worker's log."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 64_000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    # A progress bar rewrites one line with carriage returns: keep its end.
    lines = [line.split("\r")[-1].rstrip() for line in text.splitlines()]
    return [line for line in lines if line.strip()][-count:]


def describe_exit(code):
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"failed with exit status {code}"


def run_workers(command, workers, log_dir, timeout, poll=0.2):
    """Starts the workers and waits; returns `(exit_code, message)`.

    0 when every worker succeeded. A worker that fails or dies (or a run
    past `timeout` seconds) stops the others at once and returns 1 with a
    reason naming the worker and its last lines of output (a collective op
    would otherwise wait for the missing worker for ever).

    Every worker's output goes to `<log_dir>/worker<i>.log`; worker 0's is
    also shown here.
    """
    os.makedirs(log_dir, exist_ok=True)
    ports = free_ports(workers)
    environments = zip(tf_configs(ports), jax_environments(ports))
    processes, logs, echoes = [], [], []
    paths = [os.path.join(log_dir, f"worker{i}.log") for i in range(workers)]
    try:
        for index, (config, jax_env) in enumerate(environments):
            env = {**os.environ, "TF_CONFIG": config, **jax_env}
            log = open(paths[index], "wb")  # noqa: SIM115
            logs.append(log)
            if index == 0:
                process = subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                echo = threading.Thread(
                    target=_echo,
                    args=(process.stdout, sys.stdout.buffer, log),
                    daemon=True,
                )
                echo.start()
                echoes.append(echo)
            else:
                process = subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            processes.append(process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [process.poll() for process in processes]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                stop(processes)
                for echo in echoes:
                    echo.join(timeout=5)
                tail = "".join(f"\n    {line}" for line in last_lines(paths[index]))
                return 1, (
                    f"worker {index} {describe_exit(code)}; the other workers were "
                    f"stopped. Its last lines ({paths[index]}):{tail}"
                )
            if all(code == 0 for code in codes):
                return 0, f"{workers} workers finished"
            time.sleep(poll)
        return 1, f"the workers did not finish within {timeout:g} s and were stopped"
    finally:
        stop(processes)
        for echo in echoes:
            echo.join(timeout=5)
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
        "--log-dir", default="runs/launch", help="every worker's output"
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
