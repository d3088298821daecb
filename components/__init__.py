"""keras-notes components: Keras 3 objects built from a practitioner's notes.

Importing the package registers every class the project saves in a model
with Keras, so that a saved or downloaded `model.keras` loads after this one
import, as KerasHub's models load after `import keras_hub`:

```python
import components  # noqa: F401
import keras

model = keras.saving.load_model("runs/classify/model.keras")
```

The modules registered import Keras only (no TensorFlow on another backend).
Where Keras cannot be imported (a server that runs exported models with
ONNX Runtime or LiteRT alone, `components.deploy.runtimes`), there is
nothing to register and the package imports without it.
"""

try:
    import keras  # noqa: F401
except ImportError:  # no Keras, or no backend for it: nothing to register
    pass
else:
    from components import detection, layers, losses, serving  # noqa: F401
