"""KerasTuner searches over the recipes (`python -m tuning.search`, `tuning.launch`).

Importing `recipes` first keeps TensorFlow's C++ start-up lines off the
search's output, as for the recipes themselves (see `recipes/__init__.py`).
"""

import recipes  # noqa: F401
