"""The detection wing of the run machinery, one role a module, gathered here
for the recipes (YOLO and the R-CNN family) so that they are compared on the
same data with the same code and never import each other:

- `detection_config`: the flags every detector shares, checked once;
- `detection_data`: the splits, the data summary, the splits scored;
- `detection_scoring`: timed prediction and decoding, validation while
  training and the best-weights rule, the COCO files pycocotools scores;
- `detection_pictures`: every picture a detection run draws;
- `detection_results`: `results.csv`, `metrics.json` and the closing report.
"""

from recipes.run.detection_config import (  # noqa: F401
    CANVAS_OBJECTS,
    CANVASES,
    DATASET_PREFIXES,
    HARD,
    DetectionConfig,
    backbone_options,
    parse_stages,
)
from recipes.run.detection_data import (  # noqa: F401
    GALLERY,
    EvaluationSplit,
    evaluation_split,
    first_examples,
    ground_truth,
    load_splits,
    report_data,
)
from recipes.run.detection_pictures import plot_examples, plot_gallery  # noqa: F401
from recipes.run.detection_results import finish, size_line  # noqa: F401
from recipes.run.detection_scoring import (  # noqa: F401
    Validation,
    best_weights,
    coco_files,
    decode_in_batches,
    timed,
    timed_predict,
    validation,
)
