from benchmarks import scoring_memory
from benchmarks.time_to_accuracy import ROOT


def test_the_child_scores_a_set_with_hits_and_misses():
    # The synthetic test split is neither empty nor trivial: half the
    # detections lie near objects, half anywhere, so mAP sits between.
    result = scoring_memory.measure(ROOT, 40, 20)
    assert 0.01 < result["map"] < 0.9
    assert result["added_mib"] >= 0
