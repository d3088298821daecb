"""benchmarks.roi_pooling: the reference revision's layer is loaded from its own
source, and the benchmark refuses to time two layers that disagree."""

import subprocess

import pytest

from benchmarks import roi_pooling

pytest.importorskip("tensorflow")


def _has(revision):
    return (
        subprocess.run(
            ["git", "cat-file", "-e", f"{revision}^{{commit}}"],
            cwd=roi_pooling.ROOT,
            capture_output=True,
        ).returncode
        == 0
    )


@pytest.mark.skipif(
    not _has(roi_pooling.DEFAULT_REFERENCE), reason="a shallow clone: no reference"
)
def test_the_per_cell_gathers_and_the_sparse_table_pool_the_same_bins():
    from components.detection.roi_pooling import RoIPooling

    old = roi_pooling.reference_layer(roi_pooling.DEFAULT_REFERENCE)
    assert old is not RoIPooling and hasattr(old, "_windows")  # the old code
    result = roi_pooling.compare(roi_pooling.DEFAULT_REFERENCE, 8, repeats=1, calls=1)
    assert set(result["ms"]) == {"reference", "new"}


def test_a_layer_that_disagrees_is_not_timed(monkeypatch):
    from components.detection.roi_pooling import RoIPooling

    class Shifted(RoIPooling):
        def call(self, inputs):
            return super().call(inputs) + 1e-3

    monkeypatch.setattr(roi_pooling, "reference_layer", lambda revision: Shifted)
    with pytest.raises(AssertionError, match="outputs differ"):
        roi_pooling.compare("any", 4, repeats=1, calls=1)


def test_unknown_reference_is_a_clear_error():
    with pytest.raises(ValueError, match="argument `reference`: 'no-such-rev'"):
        roi_pooling.reference_layer("no-such-rev")
