"""Standalone recipes (`python -m recipes.NAME`): see each module's docstring.

Importing this package imports TensorFlow with its C++ start-up lines (absl's
"All log messages before absl::InitializeLog()", oneDNN, CUDA stubs) kept
off the terminal: they are written before TensorFlow reads
`TF_CPP_MIN_LOG_LEVEL`, so the variable cannot silence them, and each recipe
would otherwise open with six lines of noise. The devices are listed inside
the same silence: on a machine with TensorFlow's CUDA build and no GPU,
their first use logs "failed call to cuInit" at the error level, which
only `TF_CPP_MIN_LOG_LEVEL=3` would hide (and with it every other error).
Set `KERAS_NOTES_TF_LOGS=1` to see them.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_to_devnull():
    """Points file descriptor 2 at /dev/null (C++ writes bypass `sys.stderr`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


if "tensorflow" not in sys.modules and os.environ.get("KERAS_NOTES_TF_LOGS") != "1":
    try:
        with _stderr_to_devnull():
            import tensorflow

            tensorflow.config.list_physical_devices()
    except ImportError:
        pass  # the recipe's own import says what is missing, on a visible stderr
