"""``acai-repro bench`` runs both paths (plain, project) and writes its JSON (timings are never asserted on)."""

import json

import pytest

from acai_repro import bench, cli

KEYS = {"device", "device_name", "torch", "python", "threads", "date", "options", "results", "ratio_to_plain"}


def test_bench_command_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--device", "cpu", "--steps", "1", "--batch", "2", "--warmup", "1", "--repeats", "1",
                     "--depth", "4", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert KEYS <= set(report) and report["device"] == "cpu"
    assert set(report["results"]) == set(bench.PATHS)
    for figures in report["results"].values():
        assert figures["models"] == 1 and figures["images_per_s"] > 0 and len(figures["seconds"]) == 1
    assert report["ratio_to_plain"]["plain"] == 1.0 and set(report["ratio_to_plain"]) == set(bench.PATHS)
    assert report["options"]["depth"] == 4 and report["options"]["paths"] == list(bench.PATHS)
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
