"""``acai-repro bench`` runs every path and writes its JSON (timings are never asserted on)."""

import json

import pytest

from acai_repro import bench, cli

KEYS = {"device", "device_name", "torch", "python", "threads", "date", "options", "results", "ratio_to_plain",
        "notes"}


def test_bench_command_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--device", "cpu", "--steps", "1", "--batch", "2", "--warmup", "1", "--repeats", "1",
                     "--k", "2", "--depth", "4", "--cuda-graphs", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert KEYS <= set(report) and report["device"] == "cpu"
    assert set(report["results"]) == set(bench.PATHS)
    assert report["results"]["ensemble"]["models"] == 2 and report["results"]["fast"]["models"] == 1
    for figures in report["results"].values():
        assert figures["images_per_s"] > 0 and len(figures["seconds"]) == 1
    assert report["ratio_to_plain"]["plain"] == 1.0 and report["options"]["depth"] == 4
    assert report["options"]["features_used"]["cuda_graphs"] is False  # no CUDA here: fell back, and said so
    assert any("CUDA" in note for note in report["notes"])
    printed = capsys.readouterr().out
    assert "img/s" in printed and str(out) in printed


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
