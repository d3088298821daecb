"""Deployment: a saved model exported to LiteRT, ONNX or a SavedModel, and run.

`edge` (Keras and TensorFlow) turns a saved serving model into the graph an
edge runtime runs and writes it in each format; `runtimes` (NumPy, with
ONNX Runtime or LiteRT, never TensorFlow) loads an export with the JSON
written beside it and predicts. `python -m recipes.export` uses both and
checks each export against the Keras model before it says it is done.
"""
