import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config):
    # In each process that runs tests (an xdist worker, or the only process),
    # not in xdist's controller, which would import TensorFlow for nothing.
    runs_tests = hasattr(config, "workerinput") or not getattr(
        config.option, "numprocesses", None
    )
    if runs_tests and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        # Grappler, TensorFlow's graph optimizer, rewrites every new function
        # before its first call. The tests trace hundreds of small functions
        # and run each a few times, so the rewriting costs more than it saves:
        # without it the TensorFlow run took 397 s instead of 440-473 s. It
        # changes how a graph runs, not what it computes. The recipes that
        # tests start in child processes (kills, resumes, distribution,
        # searches) keep it on, as a user's run does.
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
