"""Runs a distributed KerasTuner search on one machine: a chief and N workers.

    python -m tuning.launch classify --workers 2 -- --tuner random --max-trials 12

The chief (`KERASTUNER_TUNER_ID=chief`) holds the oracle and serves it over
gRPC on `--host:--port`; each worker (`tuner0`, `tuner1`, ...) asks it for a
trial, trains, reports, and asks again until the budget is spent. Every flag
it does not know itself (after an optional `--`) goes to
`python -m tuning.search` in every process. Worker logs go to
`<directory>/<project>/logs/`.

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
        "--timeout", type=float, default=120.0, help="seconds to wait for the chief"
    )
    args, search_flags = parser.parse_known_args(argv)
    if search_flags[:1] == ["--"]:
        search_flags = search_flags[1:]
    if args.workers < 1:
        parser.error(
            f"Invalid value received for argument `workers`. Expected an integer >= 1. Received: workers={args.workers}"
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
    workers = []
    try:
        wait_for_server(args.host, port, chief, args.timeout)
        for index in range(args.workers):
            log = open(os.path.join(log_dir, f"tuner{index}.log"), "w")  # noqa: SIM115
            workers.append(
                (
                    subprocess.Popen(
                        search,
                        env={**base, "KERASTUNER_TUNER_ID": f"tuner{index}"},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
        codes = [process.wait() for process, _ in workers]
        codes.append(chief.wait())
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
            log.close()
        if chief.poll() is None:
            chief.kill()
    failed = [code for code in codes if code != 0]
    if failed:
        sys.stderr.write(
            f"tuning.launch: {len(failed)} process(es) failed; logs in {log_dir}\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
