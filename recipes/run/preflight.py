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
