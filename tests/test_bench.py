"""``acai-repro bench`` runs its paths (plain, project, graph, N runs at once) and writes its JSON (timings are never
asserted on)."""

import json
from pathlib import Path

import pytest

from acai_repro import bench, cli

KEYS = {"device", "device_name", "torch", "python", "threads", "date", "options", "results", "ratio_to_plain"}


def test_bench_command_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--device", "cpu", "--steps", "1", "--batch", "2", "--warmup", "1", "--repeats", "1",
                     "--depth", "4", "--runs", "2", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert KEYS <= set(report) and report["device"] == "cpu"
    assert set(report["results"]) == set(bench.DEFAULT_PATHS)
    for name, figures in report["results"].items():
        assert figures["models"] == (2 if name == "parallel" else 1) and figures["images_per_s"] > 0
        assert len(figures["seconds"]) == 1
    assert report["results"]["graph"]["mode"] == "cpu (eager)"  # no CUDA: the graph path's step runs eagerly
    assert report["ratio_to_plain"]["plain"] == 1.0 and set(report["ratio_to_plain"]) == set(bench.DEFAULT_PATHS)
    assert report["options"]["depth"] == 4 and report["options"]["paths"] == list(bench.DEFAULT_PATHS)
    printed = capsys.readouterr().out
    assert "img/s" in printed and str(out) in printed


def test_bench_reports_gpu_only_paths_as_unavailable_on_a_cpu():
    report = bench.run_bench(device="cpu", steps=1, batch=2, warmup=0, repeats=1, depth=4,
                             paths=("graph_tf32", "graph_bf16"), models=("baseline",), log=lambda m: None)
    assert report["results"] == {} and set(report["unavailable"]) == {"graph_tf32", "graph_bf16"}
    assert report["models"]["baseline"]["images_per_s"] > 0
    assert "unavailable" in bench.format_table(report)


def test_bench_subset_of_paths_without_plain_has_no_ratio():
    report = bench.run_bench(device="cpu", steps=1, batch=2, warmup=0, repeats=1, paths=("project",),
                             log=lambda m: None)
    assert set(report["results"]) == {"project"} and report["ratio_to_plain"] == {}


def test_bench_rejects_unknown_paths_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown path"):
        bench.run_bench(device="cpu", paths=("turbo",))
    with pytest.raises(ValueError, match="steps"):
        bench.run_bench(device="cpu", steps=0)
    with pytest.raises(ValueError, match="depth"):
        bench.run_bench(device="cpu", depth=0)
    with pytest.raises(ValueError, match="unknown model"):
        bench.run_bench(device="cpu", models=("gan",))


def test_gaia_layout_benchmark_writes_its_json(tmp_path):
    """benchmarks/gaia_layout.py (the figure behind GAIA's channels_last training) runs both layouts and records
    them; two steps only, and no timing asserted."""
    import runpy

    script = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "gaia_layout.py"))
    out = tmp_path / "layout.json"
    script["main"](["--steps", "2", "--warmup", "1", "--repeats", "1", "--out", str(out)])
    record = json.loads(out.read_text())
    assert set(record["ms_per_step"]) == {"nchw", "channels_last"} and min(record["ms_per_step"].values()) > 0
    assert record["sizes"]["image_size"] == 32 and record["max_relative_loss_difference"] >= 0
