import math

import pytest

from benchmarks import scaling


def test_one_process_runs_the_recipe_alone_and_two_go_through_the_launcher():
    one = scaling.command(1, "default", 3, "/r", "/logs")
    assert one[1:3] == ["-m", "recipes.classify"]
    assert one[one.index("--strategy") + 1] == "default"
    assert one[one.index("--epochs") + 1] == "3"
    two = scaling.command(2, "data-parallel", 3, "/r", "/logs")
    assert two[1:5] == ["-m", "recipes.launch", "--workers", "2"]
    recipe = two[two.index("--") + 1 :]
    assert recipe[recipe.index("--strategy") + 1] == "data-parallel"
    # The same training otherwise: only the strategy differs.
    assert [a for a in recipe if a not in ("data-parallel",)] == [
        a for a in one if a != "default"
    ]


def test_split_threads_give_each_process_its_half_of_the_cores():
    rows = {row[0]: row for row in scaling.configurations(["multiworker"], cores=2)}
    env = rows["multiworker: two, threads split"][4]
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    env = scaling.configurations(["data-parallel"], cores=8)[2][4]
    assert env["TF_NUM_INTRAOP_THREADS"] == "4" and "XLA_FLAGS" not in env
    assert rows["multiworker: one process"][3] == "default"


def test_the_steady_rate_leaves_start_up_out():
    # 2 extra epochs of 1,000 images took 4 s beyond the 1-epoch run.
    assert scaling.steady_rate(1000, 2, 10.0, 14.0) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="--epochs"):
        scaling.steady_rate(1000, 2, 10.0, 9.0)
    # data-parallel trains on whole global batches only.
    assert scaling.images_per_epoch(1259, 64, "data-parallel") == 1216
    assert scaling.images_per_epoch(1259, 64, "multiworker") == 1259


def test_ratios_are_against_the_same_strategys_one_process():
    configs = scaling.configurations(["data-parallel", "multiworker"], cores=2)
    rates = {row[0]: [100.0] for row in configs}
    rates["data-parallel: two processes"] = [40.0, 50.0, 60.0]
    rates["multiworker: one process"] = [200.0]
    found = scaling.ratios(configs, rates)
    assert found["data-parallel: two processes"] == pytest.approx(0.5)
    assert found["multiworker: two processes"] == pytest.approx(0.5)
    assert found["multiworker: one process"] == 1.0
    assert not any(math.isnan(v) for v in found.values())
