import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_collection_finish(session):
    # Called in each process that runs tests (an xdist worker, or the only
    # process), after the test modules have imported TensorFlow: importing it
    # here first would print its start-up lines past pytest's capture.
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        # Grappler, TensorFlow's graph optimizer, rewrites every new function
        # before its first call. The tests trace hundreds of small functions
        # and run each a few times, so the rewriting costs more than it saves:
        # without it the TensorFlow run took 397 s instead of 440-473 s. It
        # changes how a graph runs, not what it computes. The recipes that
        # tests start in child processes (kills, resumes, distribution,
        # searches) keep it on, as a user's run does.
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


@pytest.fixture
def grappler_on():
    """Grappler on for one test, as a user's run has it: for a test that
    compares its own training with one in a child process to float rounding
    (off on one side only, the search retraining's loss was 1.7e-6 apart)."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    yield
    tf.config.optimizer.set_experimental_options(before)
