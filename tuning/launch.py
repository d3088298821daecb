"""Runs a distributed KerasTuner search on one machine: a chief and N workers.

    python -m tuning.launch classify --workers 2 -- --tuner random --max-trials 12

The chief (`KERASTUNER_TUNER_ID=chief`) holds the oracle and serves it over
gRPC on `--host:--port`; each worker (`tuner0`, `tuner1`, ...) asks it for a
trial, trains, reports, and asks again until the budget is spent. Every flag
it does not know itself (after an optional `--`) goes to
`python -m tuning.search` in every process. Worker logs go to
`<directory>/<project>/logs/`.

A worker that dies is named with its last lines and started again under its
tuner id (`--restarts` times at most): the chief gives it back its unfinished
trial, so the search still ends with every trial. `--timeout` bounds the
whole search.

On several machines, start the same search command on each, with the same
`--directory` on shared storage (or not: only the chief needs the oracle's
files) and these variables:

    # machine A (chief)
    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m tuning.search classify --max-trials 40
    # machines B, C, ... (one id each)
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m tuning.search classify --max-trials 40
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

from recipes.launch import describe_exit, last_lines
from recipes.run import flags


def port_is_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_server(host, port, process, timeout):
    """Waits until the chief accepts connections (or dies, or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"The chief exited with status {process.returncode} before serving."
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"The chief did not serve on {host}:{port} within {timeout} s.")


def main(argv=None):
    parser = flags.OneLineParser(
        prog="python -m tuning.launch",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("recipe", help="recipe to tune")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the chief serves on"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port of the chief (0: any free)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=7 * 24 * 3600.0,
        help="seconds before the whole search is stopped",
    )
    parser.add_argument(
        "--serve-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the chief to serve",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=3,
        help="times a dead worker is started again",
    )
    args, search_flags = parser.parse_known_args(argv)
    if search_flags[:1] == ["--"]:
        search_flags = search_flags[1:]
    if args.workers < 1:
        parser.error(
            f"Invalid value received for argument `workers`. Expected an integer >= 1. Received: workers={args.workers}"
        )
    if args.restarts < 0:
        parser.error(
            "Invalid value received for argument `restarts`. Expected an integer "
            f">= 0. Received: restarts={args.restarts}"
        )
    if not args.timeout > 0:
        parser.error(
            "Invalid value received for argument `timeout`. Expected > 0. "
            f"Received: timeout={args.timeout}"
        )
    port = args.port or free_port(args.host)
    if not port_is_free(args.host, port):
        parser.error(f"port {port} on {args.host} is in use: pick another with --port.")

    search = [sys.executable, "-m", "tuning.search", args.recipe, *search_flags]
    # Validate the search flags once, in this process, before starting anything.
    from tuning import search as search_module

    search_args = search_module.build_parser().parse_args([args.recipe, *search_flags])
    with flags.usage_errors(parser):
        search_module.validate(search_args)
    project = search_args.project_name or f"{args.recipe}_{search_args.tuner}"
    log_dir = os.path.join(search_args.directory, project, "logs")
    os.makedirs(log_dir, exist_ok=True)

    base = {
        **os.environ,
        "KERASTUNER_ORACLE_IP": args.host,
        "KERASTUNER_ORACLE_PORT": str(port),
    }
    chief = subprocess.Popen(search, env={**base, "KERASTUNER_TUNER_ID": "chief"})
    pool = Workers(search, base, args.workers, log_dir)
    try:
        try:
            wait_for_server(args.host, port, chief, args.serve_timeout)
        except RuntimeError as error:
            sys.stderr.write(f"tuning.launch: {error}\n")
            return 1
        pool.start()
        code, message = supervise(
            chief, pool, time.monotonic() + args.timeout, args.restarts
        )
    finally:
        pool.stop()
        if chief.poll() is None:
            chief.kill()
            chief.wait()
    sys.stderr.write(f"tuning.launch: {message}; logs in {log_dir}\n")
    return code


class Workers:
    """The search's worker processes, each restartable under its tuner id."""

    def __init__(self, command, env, count, log_dir):
        self.command, self.env, self.log_dir = command, env, log_dir
        self.processes = [None] * count
        self._logs = [None] * count

    def path(self, index):
        return os.path.join(self.log_dir, f"tuner{index}.log")

    def start(self, index=None, append=False):
        for i in range(len(self.processes)) if index is None else [index]:
            if self._logs[i] is not None:
                self._logs[i].close()
            self._logs[i] = open(self.path(i), "a" if append else "w")  # noqa: SIM115
            self.processes[i] = subprocess.Popen(
                self.command,
                env={**self.env, "KERASTUNER_TUNER_ID": f"tuner{i}"},
                stdout=self._logs[i],
                stderr=subprocess.STDOUT,
            )

    def stop(self):
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.kill()
        for process in self.processes:
            if process is not None:
                process.wait()
        for log in self._logs:
            if log is not None:
                log.close()


def supervise(chief, pool, deadline, restarts, poll=0.5):
    """Waits for the search to end; returns `(exit_code, message)`.

    A worker that dies (a crash, a kill, a lost machine) is named with its
    last lines and started again under the same tuner id, up to `restarts`
    times each: KerasTuner's oracle hands a tuner id its unfinished trial
    again, so the trial is rerun and the search ends with every trial
    (without the restart the chief would wait for that trial for ever,
    keras-tuner #915). The chief ends the search; past `deadline` (a
    `time.monotonic()` value) everything is stopped.
    """
    restarted = [0] * len(pool.processes)
    while chief.poll() is None:
        for index, process in enumerate(pool.processes):
            code = process.poll()
            if code in (None, 0):
                continue
            tail = "".join(f"\n    {line}" for line in last_lines(pool.path(index)))
            if restarted[index] >= restarts:
                return 1, (
                    f"worker tuner{index} {describe_exit(code)} again, after "
                    f"{restarts} restart(s); the search was stopped. Its last "
                    f"lines:{tail}"
                )
            restarted[index] += 1
            sys.stderr.write(
                f"tuning.launch: worker tuner{index} {describe_exit(code)}; "
                f"restarting it ({restarted[index]} of {restarts}): the chief "
                f"gives it back its unfinished trial. Its last lines:{tail}\n"
            )
            pool.start(index, append=True)
        if time.monotonic() > deadline:
            return 1, "the search did not end within --timeout and was stopped"
        time.sleep(poll)
    if chief.returncode != 0:
        return 1, f"the chief {describe_exit(chief.returncode)}"
    # The chief ends once every trial is done; the workers follow at once.
    grace = time.monotonic() + 60
    while any(p.poll() is None for p in pool.processes) and time.monotonic() < grace:
        time.sleep(poll)
    failed = [
        f"tuner{i} {describe_exit(p.returncode)}"
        for i, p in enumerate(pool.processes)
        if p.returncode not in (None, 0)
    ]
    if failed:
        return 1, "the search ended but " + ", ".join(failed)
    total = sum(restarted)
    return 0, "the search ended" + (f" ({total} worker restart(s))" if total else "")


if __name__ == "__main__":
    sys.exit(main())
