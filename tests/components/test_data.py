import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from components import data


def _labels(dataset):
    return np.concatenate([np.atleast_1d(y) for _, y in dataset.as_numpy_iterator()])


# --- splits -----------------------------------------------------------------


def test_stratified_split_is_deterministic_disjoint_and_balanced():
    labels = np.repeat(np.arange(5), [40, 30, 20, 50, 60])
    a = data.stratified_split_indices(labels, 0.1, 0.2, seed=3)
    b = data.stratified_split_indices(labels, 0.1, 0.2, seed=3)
    c = data.stratified_split_indices(labels, 0.1, 0.2, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["test"], c["test"])
    joined = np.concatenate(list(a.values()))
    assert sorted(joined.tolist()) == list(range(len(labels)))
    counts = np.bincount(labels)
    for key, share in (("test", 0.2), ("validation", 0.1)):
        per_class = np.bincount(labels[a[key]], minlength=5)
        np.testing.assert_allclose(per_class, counts * share, atol=1)


@pytest.mark.parametrize(
    "val, test, match",
    [(0.0, 0.2, "validation_fraction"), (0.2, 1.0, "test_fraction"), (0.5, 0.5, "sum")],
)
def test_bad_fractions_name_the_argument(val, test, match):
    with pytest.raises(ValueError, match=match):
        data.stratified_split_indices(np.arange(10) % 2, val, test, seed=0)


def test_from_arrays_rejects_bad_input_clearly():
    x = np.zeros((20, 4, 4, 1), "float32")
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="empty"):
        data.from_arrays(x[:0], y[:0], num_classes=2)
    with pytest.raises(ValueError, match=r"Labels out of range.*\[0, 2\)"):
        data.from_arrays(x, np.where(y == 1, 7, 0), num_classes=2)
    with pytest.raises(ValueError, match="Labels out of range"):
        data.from_arrays(x, y - 1, num_classes=2)
    bad = x.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN.*first at index 3"):
        data.from_arrays(bad, y)
    with pytest.raises(ValueError, match="shape"):
        data.from_arrays(x[..., 0], y)
    with pytest.raises(ValueError, match="one integer label per image"):
        data.from_arrays(x, y[:5])
    with pytest.raises(ValueError, match="split is empty"):
        data.from_arrays(x[:4], y[:4], validation_fraction=0.1, test_fraction=0.1)


# --- digits -----------------------------------------------------------------


def test_digits_are_the_real_sklearn_digits_split_three_ways():
    splits = data.load("digits", seed=0)
    assert splits.num_classes == 10 and splits.input_shape == (8, 8, 1)
    assert sum(splits.sizes.values()) == 1797
    x, y = splits.as_numpy("train")
    assert x.min() >= 0.0 and x.max() == 1.0
    images, labels = data.digits_arrays()
    idx = data.digits_split_indices(0)["train"]
    np.testing.assert_array_equal(x, images[idx])
    np.testing.assert_array_equal(y, labels[idx])


def test_digits_resize_and_channels():
    splits = data.load("digits", image_size=(32, 24), channels=3)
    x, _ = splits.as_numpy("validation")
    assert x.shape[1:] == (32, 24, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    assert 0.0 <= x.min() and x.max() <= 1.0
    # Resizing preserves the mean ink of an image (bilinear, antialiased).
    small, _ = data.load("digits").as_numpy("validation")
    np.testing.assert_allclose(
        x.mean(axis=(1, 2, 3)), small.mean(axis=(1, 2, 3)), atol=0.03
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 0}, "image_size"),
        ({"channels": 2}, "channels"),
        ({"test_fraction": 1.5}, "test_fraction"),
    ],
)
def test_digits_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load("digits", **kwargs)


@pytest.mark.parametrize("spec", ["mnist", "tfds:", "tfds:a:b:c", "digit"])
def test_unknown_dataset_spec(spec):
    with pytest.raises(ValueError, match="dataset"):
        data.load(spec)


# --- TFDS (the real loader, on TFDS's own mock data) ------------------------


def test_tfds_loader_on_mock_mnist(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        splits = data.load(
            "tfds:mnist", image_size=16, channels=3, data_dir=str(tmp_path)
        )
        x, y = splits.as_numpy("train")
    assert splits.name == "tfds:mnist" and splits.num_classes == 10
    assert splits.input_shape == (16, 16, 3) and x.shape[1:] == (16, 16, 3)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int32 and ((0 <= y) & (y < 10)).all()
    assert splits.class_names[:2] == ("0", "1")


def test_tfds_split_names_follow_the_dataset():
    class Info:
        def __init__(self, names):
            self.splits = {n: None for n in names}

    from components.data.tfds_source import _split_names

    assert _split_names(Info(["train", "test"]), 0.1, 0.2) == {
        "train": "train[:90%]",
        "validation": "train[90%:100%]",
        "test": "test",
    }
    assert _split_names(Info(["train", "validation", "test"]), 0.1, 0.2) == {
        "train": "train",
        "validation": "validation",
        "test": "test",
    }
    assert _split_names(Info(["train"]), 0.1, 0.2) == {
        "train": "train[:70%]",
        "validation": "train[70%:80%]",
        "test": "train[80%:]",
    }


def test_tfds_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown TFDS dataset"):
        data.load("tfds:no_such_dataset_xyz")
    with pytest.raises(ValueError, match="not image classification"):
        data.load("tfds:imdb_reviews")
    with pytest.raises(ValueError, match="no .image, label. supervised keys"):
        data.load("tfds:voc/2007")
    with tfds.testing.mock_data(num_examples=0):
        with pytest.raises(ValueError, match="is empty"):
            data.load("tfds:mnist", data_dir=str(tmp_path))


# --- pipeline ---------------------------------------------------------------


def _toy():
    rng = np.random.default_rng(0)
    x = rng.random((60, 6, 6, 1)).astype("float32")
    return data.from_arrays(x, np.arange(60) % 3, seed=0)


def test_training_pipeline_reshuffles_every_epoch_and_is_seeded():
    splits = _toy()
    pipe = data.make_pipeline(splits.train, 8, training=True, seed=1)
    first, second = _labels(pipe), _labels(pipe)
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    again = data.make_pipeline(splits.train, 8, training=True, seed=1)
    np.testing.assert_array_equal(first, _labels(again))
    evaluation = data.make_pipeline(splits.train, 8)
    np.testing.assert_array_equal(_labels(evaluation), _labels(splits.train))


def test_augmentation_only_on_training_batches():
    splits = _toy()
    x, _ = splits.as_numpy("train")
    plain = np.concatenate(
        [
            b
            for b, _ in data.make_pipeline(
                splits.train, 64, augment="noise", input_shape=(6, 6, 1)
            ).as_numpy_iterator()
        ]
    )
    np.testing.assert_array_equal(plain, x)
    aug = data.make_pipeline(
        splits.train, 64, training=True, augment="noise", input_shape=(6, 6, 1), seed=0
    )
    batch = next(iter(aug))[0].numpy()
    assert batch.shape == x.shape
    # Same multiset of images is impossible after noise: no row matches exactly.
    assert not any(np.array_equal(batch[0], row) for row in x)


def augmented(name, images, seed=0):
    """Runs an augmentation where it is meant to run: inside tf.data."""
    fn = data.build_augmentation(name, tuple(images.shape[1:]), seed=seed)
    dataset = tf.data.Dataset.from_tensors(images).map(fn)
    return next(iter(dataset)).numpy()


@pytest.mark.parametrize("name", data.AUGMENTATIONS)
def test_each_augmentation_keeps_shape_and_range(name):
    images = tf.random.uniform((4, 12, 12, 3), seed=0)
    out = augmented(name, images)
    assert out.shape == (4, 12, 12, 3)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert not np.allclose(out, images.numpy()) or name in ("flip", "blur")


@pytest.mark.parametrize("name", data.AUGMENTATIONS)
def test_augmentation_is_fresh_every_epoch_and_repeatable_from_a_seed(name):
    splits = _toy()

    def pipeline():
        return data.make_pipeline(
            splits.train,
            64,
            training=True,
            augment=name,
            input_shape=(6, 6, 1),
            seed=0,
            shuffle_buffer=1,
        )

    first = pipeline()
    epoch1, epoch2 = (next(iter(first))[0].numpy() for _ in range(2))
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(next(iter(pipeline()))[0].numpy(), epoch1)


def test_drop_pixels_zeroes_about_five_percent():
    out = augmented("drop", tf.ones((16, 32, 32, 3)))
    dropped = (out == 0).all(axis=-1).mean()
    assert 0.03 < dropped < 0.07


def test_flip_mirrors_horizontally():
    images = tf.reshape(tf.range(16 * 64, dtype=tf.float32) / 1024.0, (64, 4, 4, 1))
    out = augmented("flip", images)
    mirrored = images.numpy()[:, :, ::-1]
    same = [np.array_equal(o, i) for o, i in zip(out, images.numpy())]
    flipped = [np.array_equal(o, m) for o, m in zip(out, mirrored)]
    assert all(s or f for s, f in zip(same, flipped)) and any(flipped) and any(same)


def test_bad_augment_and_batch_size():
    with pytest.raises(ValueError, match="augment.*unknown: warp"):
        data.parse_augment("rotate,warp")
    with pytest.raises(ValueError, match="batch_size"):
        data.make_pipeline(_toy().train, 0)


def test_normalizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    x = rng.random((300, 4, 4, 2)).astype("float32")
    x[:, :, :, 1] *= 5.0
    splits = data.from_arrays(x, np.arange(300) % 3, seed=0)
    train, _ = splits.as_numpy("train")
    norm = data.fit_normalizer(splits.train)
    np.testing.assert_allclose(
        np.ravel(norm.get_config()["mean"]), train.mean(axis=(0, 1, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.sqrt(np.ravel(norm.get_config()["variance"])),
        train.std(axis=(0, 1, 2)),
        rtol=1e-4,
    )
    assert not np.allclose(
        np.ravel(norm.get_config()["mean"]), x.mean(axis=(0, 1, 2)), rtol=1e-5
    )
    out = np.asarray(norm(train))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    with pytest.raises(ValueError, match="normalize"):
        data.fit_normalizer(splits.train, "per_pixel")
