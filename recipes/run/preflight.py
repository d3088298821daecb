"""What a run refuses before it writes anything: its run directory and backup.

`recipes.run.Run` calls these at start (and `lock` again when it opens the
run directory): a run directory that cannot be written, one a live run holds,
and a backup made with other flags are one-line errors, not a second run
interleaving its files with the first or a traceback from the weights file.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile

from components.callbacks import read_state

# Flags a resumed run may change: they alter neither the model, the data
# nor the optimizer's updates of the epochs already run.
RESUMABLE = frozenset(
    {
        "epochs",
        "verbose",
        "run_dir",
        "backup_dir",
        "backup_every",
        "quick",
        "overwrite",
        "download",
        "data_dir",
    }
)


def check_writable(path):
    """Raises unless `path` is, or can be made, a writable folder."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Invalid value received for argument `run_dir`: {existing} is a file, "
            f"not a folder. Received: run_dir={path!r}"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(
            f"Invalid value received for argument `run_dir`: {existing} is not "
            f"writable ({error.strerror}). Received: run_dir={path!r}"
        ) from None


def lock(path):
    """Takes the run directory's lock (`.lock`, holding the owner's pid).

    The lock is an `flock` on the open file: the system releases it when the
    process ends, however it ends, so a killed run never leaves it behind.
    """
    handle = open(os.path.join(path, ".lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise ValueError(
            f"The run directory {path} is in use by another live run (pid "
            f"{owner}); wait for it to end or pass another --run-dir."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


# Left in place by `--overwrite`: other workers' run folders, the lock, and
# `recipes.transfer`'s cached source model (`--source-cache` defaults to it).
KEPT = frozenset({"workers", ".lock", "source"})


def check_unused(path, overwrite=False, resuming=False):
    """Raises if `path` holds an earlier run, unless the user asked to write
    over it (`overwrite`) or to resume (`resuming`: a `--backup-dir`)."""
    if overwrite or resuming or not os.path.exists(os.path.join(path, "config.json")):
        return
    raise ValueError(
        f"The run directory {path} holds an earlier run; pass another --run-dir, "
        "--overwrite to replace it, or its --backup-dir to resume it."
    )


def clear_run(path):
    """Empties the earlier run in `path` (`--overwrite`): its files would
    otherwise mix with the new run's (TensorBoard shows both runs' logs).
    Other workers' folders and the lock are left to their owners, and the
    transfer recipe's cached source model is kept for reuse."""
    if not os.path.exists(os.path.join(path, "config.json")):
        return
    for name in os.listdir(path):
        if name in KEPT:
            continue
        target = os.path.join(path, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.remove(target)


def check_free(path):
    """Raises if another live run holds the lock of the run directory `path`."""
    if os.path.exists(os.path.join(path, ".lock")):
        lock(path).close()


def check_resume(backup_dir, flags):
    """Raises if `backup_dir` holds a backup made with other flags.

    Flags in `RESUMABLE` (more epochs, verbosity, where to write) may differ.
    """
    # An ensemble backs each member up in a subfolder of its own.
    folders = [backup_dir] + sorted(
        glob.glob(os.path.join(glob.escape(backup_dir), "*/"))
    )
    state = next((s for s in map(read_state, folders) if s is not None), None)
    if state is None:
        return
    saved = state.get("flags", {})
    differing = [
        name
        for name in sorted(set(saved) | set(flags))
        if name not in RESUMABLE and saved.get(name) != flags.get(name)
    ]
    if differing:
        changes = ", ".join(
            f"--{n.replace('_', '-')} {saved.get(n)!r} (now {flags.get(n)!r})"
            for n in differing
        )
        raise ValueError(
            f"--backup-dir {backup_dir} holds a run made with other flags: {changes}. "
            "Resume with the same flags, or pass another --backup-dir."
        )
