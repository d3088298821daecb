"""Saved models that take raw images and say what they found.

A trained network expects what its pipeline gave it: float pixels in [0, 1]
at one size. `classifier_serving_model` and `detector_serving_model` wrap it so
that the saved `model.keras` (and `model.export()`) takes raw uint8 images of
any size and carries what inference needs:

- `ImagePreprocessing`: the input size, the resize and the scaling;
- `ClassNames`: the class names (the model's last layer);
- for detectors, `ScaleBoxes`: boxes in the input image's own pixels.

A classifier's `predict(images)` returns class scores `(batch, classes)`; a
detector's returns a dict of `boxes` `(batch, max_detections, 4)` ("xyxy"
pixels of each input image), `scores`, `labels` (class indices into the class
names) and `num_detections`, rows past `num_detections` being zeros.
`serving_info(model)` reads the class names and sizes back from a loaded model.
"""

from __future__ import annotations

import keras
from keras import ops

from components.checks import invalid_value

_PACKAGE = "components"


RESIZES = ("stretch", "letterbox")


def _check_resize(resize):
    if resize not in RESIZES:
        raise ValueError(invalid_value("resize", resize, f"one of {RESIZES}"))
    return resize


def _letterbox_frame(height, width, size):
    """Keras ops' `(top, left, scale_y, scale_x)` of `pad_to_aspect_ratio`
    (as `components.data.letterbox_frame`, which the training data used)."""
    target_height, target_width = size

    def as_int(value):
        return ops.cast(value, "int32")

    def as_float(value):
        return ops.cast(value, "float32")

    height, width = as_int(height), as_int(width)
    padded_height = ops.maximum(
        height, as_int(as_float(width * target_height) / target_width)
    )
    padded_width = ops.maximum(
        width, as_int(as_float(height * target_width) / target_height)
    )
    top = as_int(as_float(padded_height - height) / 2)
    left = as_int(as_float(padded_width - width) / 2)
    scale_y = target_height / as_float(height + 2 * top)
    scale_x = target_width / as_float(width + 2 * left)
    return as_float(top), as_float(left), scale_y, scale_x


def _size(image_size):
    size = tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(invalid_value("image_size", image_size, "(height, width)"))
    return size


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImagePreprocessing(keras.layers.Layer):
    """Raw pixels in, the network's input out: `pixels * scale`, resized.

    Args:
        image_size: `(height, width)` the network was trained at.
        scale: Float. Factor from raw pixels to the training range (1/255 for
            uint8 images and training pixels in [0, 1]).
        antialias: Boolean. Antialias when shrinking, as the training data was.
        resize: `"stretch"` (to `image_size`) or `"letterbox"` (the aspect
            kept: black bands, Keras's `pad_to_aspect_ratio`), as the training
            data was resized.

    Example:

    >>> import numpy as np
    >>> layer = ImagePreprocessing((4, 4))
    >>> out = layer(np.full((1, 8, 8, 1), 255, "uint8"))
    >>> tuple(out.shape), float(out[0, 0, 0, 0])
    ((1, 4, 4, 1), 1.0)
    """

    def __init__(
        self, image_size, scale=1.0 / 255.0, antialias=True, resize="stretch", **kwargs
    ):
        super().__init__(**kwargs)
        self.image_size = _size(image_size)
        self.scale = float(scale)
        self.antialias = bool(antialias)
        self.resize = _check_resize(resize)

    def call(self, images):
        pixels = ops.cast(images, "float32") * self.scale
        # Resizing to the same size is exact (bilinear at half-pixel centres).
        resized = ops.image.resize(
            pixels,
            self.image_size,
            interpolation="bilinear",
            antialias=self.antialias,
            pad_to_aspect_ratio=self.resize == "letterbox",
        )
        return ops.clip(resized, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_size, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": list(self.image_size),
            "scale": self.scale,
            "antialias": self.antialias,
            "resize": self.resize,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleBoxes(keras.layers.Layer):
    """ "xyxy" boxes between the network's pixels and an input image's.

    Called on `[boxes, images]`: `to_image=True` maps boxes found at
    `image_size` onto `images`' own size, `False` the other way (regions given
    on the raw image, for R-CNN and Fast R-CNN).

    Example:

    >>> import numpy as np
    >>> boxes = np.array([[[10, 20, 30, 40]]], "float32")
    >>> images = np.zeros((1, 200, 100, 3), "uint8")
    >>> np.asarray(ScaleBoxes((100, 100))([boxes, images])).tolist()
    [[[10.0, 40.0, 30.0, 80.0]]]
    """

    def __init__(self, image_size, to_image=True, resize="stretch", **kwargs):
        super().__init__(**kwargs)
        self.image_size = _size(image_size)
        self.to_image = bool(to_image)
        self.resize = _check_resize(resize)

    def call(self, inputs):
        boxes, images = inputs
        boxes = ops.cast(boxes, "float32")
        shape = ops.shape(images)
        if self.resize == "letterbox":
            top, left, scale_y, scale_x = _letterbox_frame(
                shape[1], shape[2], self.image_size
            )
            offset = ops.stack([left, top, left, top])
            scale = ops.stack([scale_x, scale_y, scale_x, scale_y])
        else:
            size = ops.cast(ops.stack([shape[2], shape[1]]), "float32")
            target = ops.convert_to_tensor(self.image_size[::-1], "float32")
            scale = ops.tile(target / size, [2])
            offset = ops.zeros(4)
        # A pixel of the image lands at (x + offset) * scale in the network's.
        if self.to_image:
            return boxes / scale - offset
        return (boxes + offset) * scale

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": list(self.image_size),
            "to_image": self.to_image,
            "resize": self.resize,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClassNames(keras.layers.Identity):
    """Passes its input through and keeps the class names in the saved model.

    Example:

    >>> ClassNames(["cat", "dog"]).class_names
    ('cat', 'dog')
    """

    def __init__(self, class_names, **kwargs):
        super().__init__(**kwargs)
        self.class_names = tuple(str(name) for name in class_names)
        if not self.class_names:
            raise ValueError(invalid_value("class_names", class_names, "names"))

    def get_config(self):
        return {**super().get_config(), "class_names": list(self.class_names)}


def _raw_input(channels, name="images"):
    return keras.Input((None, None, channels), dtype="uint8", name=name)


def classifier_serving_model(model, class_names, antialias=True):
    """`model` behind raw-image preprocessing, ending in its class names.

    Args:
        model: A classifier taking float images in [0, 1] of one size.
        class_names: Sequence of strings, one per output.
        antialias: Boolean. How the training images were resized.

    Returns:
        A `keras.Model` taking uint8 `(batch, height, width, channels)` images
        of any size and returning `model`'s class scores.

    Example:

    >>> import numpy as np
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> served = classifier_serving_model(net, ["a", "b"])
    >>> served.predict(np.zeros((3, 16, 16, 1), "uint8"), verbose=0).shape
    (3, 2)
    """
    height, width, channels = model.input_shape[1:]
    if len(class_names) != model.output_shape[-1]:
        raise ValueError(
            f"Expected {model.output_shape[-1]} class names, one per output; "
            f"received {len(class_names)}."
        )
    raw = _raw_input(channels)
    pixels = ImagePreprocessing(
        (height, width), antialias=antialias, name="preprocessing"
    )(raw)
    scores = ClassNames(class_names, name="class_names")(model(pixels))
    return keras.Model(raw, scores, name=f"{model.name}_serving")


def detector_serving_model(model, class_names, antialias=True, resize="stretch"):
    """A detector that decodes (`yolo_inference_model`, `region_inference_model`)
    behind raw-image preprocessing, its boxes in each input image's pixels.

    R-CNN's and Fast R-CNN's serving models take `{"images", "rois"}`, the
    regions in the raw image's pixels.

    Args:
        model: A detector taking float images in [0, 1] and returning the
            decoding's dict.
        class_names: Sequence of strings, one per class.
        antialias: Boolean. How the training images were resized.
        resize: `"stretch"` or `"letterbox"`: how the training images met the
            network's size; the boxes go back into each image's own pixels.

    Returns:
        A `keras.Model` taking uint8 images of any size.
    """
    inputs = model.input
    regions = isinstance(inputs, dict)
    images = inputs["images"] if regions else inputs
    height, width, channels = images.shape[1:]
    raw = _raw_input(channels)
    pixels = ImagePreprocessing(
        (height, width), antialias=antialias, resize=resize, name="preprocessing"
    )(raw)
    served_inputs, feed = raw, pixels
    if regions:
        rois = keras.Input(inputs["rois"].shape[1:], name="rois")
        served_inputs = {"images": raw, "rois": rois}
        scaled = ScaleBoxes(
            (height, width), to_image=False, resize=resize, name="rois_to_network"
        )
        feed = {"images": pixels, "rois": scaled([rois, raw])}
    detections = dict(model(feed))
    detections["boxes"] = ScaleBoxes(
        (height, width), resize=resize, name="boxes_to_image"
    )([detections["boxes"], raw])
    outputs = ClassNames(class_names, name="class_names")(detections)
    return keras.Model(served_inputs, outputs, name=f"{model.name}_serving")


def _registered(layer, name):
    return keras.saving.get_registered_name(type(layer)) == f"{_PACKAGE}>{name}"


def serving_info(model):
    """What a serving model needs to be fed and what it answers.

    Returns:
        A dict with `kind` (`"classifier"` or `"detector"`), `class_names`,
        `image_size` (the network's), `channels`, `needs_rois` (R-CNN and
        Fast R-CNN) and `network` (the wrapped model, taking [0, 1] pixels).
        Raises a `ValueError` for a model that is not a serving model.
    """
    names = [layer for layer in model.layers if _registered(layer, "ClassNames")]
    prep = [layer for layer in model.layers if _registered(layer, "ImagePreprocessing")]
    if not names or not prep:
        raise ValueError(
            f"Model {model.name!r} is not a keras-notes serving model (no "
            "ClassNames / ImagePreprocessing layers): it was saved by an older "
            "version or by other code."
        )
    networks = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return {
        "kind": "detector" if isinstance(model.output, dict) else "classifier",
        "class_names": names[0].class_names,
        "image_size": prep[0].image_size,
        "channels": int(model.inputs[0].shape[-1]),
        "needs_rois": isinstance(model.input, dict),
        "network": networks[0] if networks else None,
    }
