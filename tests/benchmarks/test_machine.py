from benchmarks import machine


def test_cpu_kinds_follow_the_vector_extensions():
    assert machine.kind({"avx2", "fma", "avx512f"}) == "avx512"
    assert machine.kind({"avx2", "fma", "sse4_2"}) == "avx2"
    assert machine.kind({"avx2"}) == "other"  # no FMA: neither kind's kernels
    assert machine.kind({"asimd"}) == "arm"


def test_the_summary_names_the_cpu_and_any_kernel_setting(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    info = machine.describe()
    assert info["kernels"]["TF_ENABLE_ONEDNN_OPTS"] == "0"
    line = machine.summary_line(info)
    assert info["cpu"] in line and "TF_ENABLE_ONEDNN_OPTS=0" in line
    assert f"kind {machine.kind()}" in line
