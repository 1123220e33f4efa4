"""Atomic writes and the checksummed checkpoint store."""

from __future__ import annotations

import hashlib

import pytest
import torch

from acai_repro import checkpoints
from acai_repro.checkpoints import CheckpointStore, atomic_save, atomic_write_bytes, atomic_write_text


def test_atomic_writes_round_trip(tmp_path):
    atomic_write_bytes(tmp_path / "sub" / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "b.json", '{"mean_distance": 0.24}')
    atomic_save({"w": torch.arange(3.0)}, tmp_path / "c.pt")
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.json").read_text() == '{"mean_distance": 0.24}'
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["w"], torch.tensor([0.0, 1.0, 2.0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "c.pt", "sub"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def fail(*args):
        raise OSError(f"simulated failure in os.{failing}")

    monkeypatch.setattr(checkpoints.os, failing, fail)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def payload(step: int) -> dict:
    return {"step": step, "weights": torch.full((2, 2), float(step)), "history": [{"step": step, "loss": 0.5}]}


def filled_store(tmp_path, steps=(10, 20, 30), keep=3) -> CheckpointStore:
    store = CheckpointStore(tmp_path, keep=keep)
    for step in steps:
        store.save(step, payload(step))
    return store


def test_save_writes_a_checksum_and_load_latest_returns_the_newest(tmp_path):
    store = filled_store(tmp_path)
    path = store.path_for(30)
    assert path.name == "ckpt-000000030.pt"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "ckpt-000000030.pt.sha256").read_text() == f"{digest}  ckpt-000000030.pt\n"
    step, loaded = store.load_latest()
    assert step == 30 and loaded["history"] == [{"step": 30, "loss": 0.5}]
    assert torch.equal(loaded["weights"], torch.full((2, 2), 30.0))


def test_pruning_keeps_the_newest_two(tmp_path):
    store = filled_store(tmp_path, steps=(1, 2, 3, 4), keep=2)
    (tmp_path / ".ckpt-000000005.pt.0123.tmp").write_bytes(b"left by a killed save")
    store.save(5, payload(5))
    assert store.steps() == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000000004.pt", "ckpt-000000004.pt.sha256", "ckpt-000000005.pt", "ckpt-000000005.pt.sha256",
    ]


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def drop_checksum(path):
    path.with_name(path.name + ".sha256").unlink()


def garbage_with_matching_checksum(path):
    path.write_bytes(b"not a torch file")
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(b"not a torch file").hexdigest())


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (flip_a_byte, "sha256 mismatch"),
        (truncate, "sha256 mismatch"),
        (drop_checksum, "no checksum file"),
        (garbage_with_matching_checksum, "unreadable by torch.load"),
    ],
)
def test_damaged_newest_checkpoint_warns_and_falls_back(tmp_path, damage, reason):
    store = filled_store(tmp_path)
    damage(store.path_for(30))
    with pytest.warns(UserWarning, match=f"ckpt-000000030.pt: {reason}") as caught:
        step, loaded = store.load_latest()
    assert len(caught) == 1
    assert step == 20 and torch.equal(loaded["weights"], torch.full((2, 2), 20.0))


def test_all_checkpoints_damaged_gives_none(tmp_path):
    store = filled_store(tmp_path, steps=(10, 20))
    truncate(store.path_for(10))
    flip_a_byte(store.path_for(20))
    with pytest.warns(UserWarning) as caught:
        assert store.load_latest() is None
    assert ["ckpt-000000020.pt" in str(w.message) for w in caught] == [True, False]
    assert "ckpt-000000010.pt" in str(caught[1].message)


def test_empty_or_missing_directory_gives_none_silently(tmp_path, recwarn):
    assert CheckpointStore(tmp_path / "never-created").load_latest() is None
    assert CheckpointStore(tmp_path).load_latest() is None
    assert len(recwarn) == 0


def test_keep_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="keep"):
        CheckpointStore(tmp_path, keep=0)


def test_payload_outside_the_weights_only_list_still_loads(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(1, {"sampler": {"order": range(3)}})  # range is not on torch's weights_only safe list
    assert store.load_latest() == (1, {"sampler": {"order": range(3)}})
