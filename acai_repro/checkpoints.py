"""Crash-safe files: atomic writes, and a directory of checksummed checkpoints.

An atomic write puts the new bytes in a temporary file in the target's directory, flushes them to disk (fsync) and
then renames the temporary file over the target with ``os.replace``, which POSIX and Windows perform atomically
within one file system. A process killed at any moment therefore leaves either the old file or the new one, never a
torn mixture.

:class:`CheckpointStore` keeps ``ckpt-<step:09d>.pt`` files (plain ``torch.save`` output, so ``torch.load`` reads
them directly) and beside each a ``.sha256`` file in ``sha256sum`` format (``sha256sum -c`` verifies it). The
checksum is written after the checkpoint, so a checkpoint without a matching checksum is one whose save was
interrupted, or one damaged later; :meth:`CheckpointStore.load_latest` warns and falls back to the previous one.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import uuid
import warnings
from pathlib import Path

import torch

from acai_repro.errors import CheckpointError

_CHECKPOINT_NAME = re.compile(r"ckpt-(\d{9})\.pt")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # same directory: os.replace stays atomic
    # mode 0o666 minus the umask, like any new file (tempfile.mkstemp would make it private, 0o600)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # make the rename itself durable (directories cannot be opened this way on Windows)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` for text (metrics.json, executed notebooks)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)``, atomically."""
    atomic_write_bytes(path, _serialize(obj))


def _serialize(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _deserialize(data: bytes) -> object:
    """Load checkpoint bytes onto the CPU (``load_state_dict`` later moves tensors to their module's device)."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Some state_dict holds a type outside torch's safe list (e.g. a sampler keeping a NumPy array). The
        # checksum has shown these are the bytes this store wrote, so a full unpickle is acceptable here.
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


class CheckpointStore:
    """The newest ``keep`` checkpoints of one run, in ``directory``.

    >>> store = CheckpointStore("results/run", keep=2)  # doctest: +SKIP
    >>> store.save(1000, {"model": model.state_dict()})  # doctest: +SKIP
    >>> step, payload = store.load_latest()  # doctest: +SKIP
    """

    def __init__(self, directory: str | os.PathLike, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"CheckpointStore keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def path_for(self, step: int) -> Path:
        return self.directory / f"ckpt-{step:09d}.pt"

    def steps(self) -> list[int]:
        """Steps of the checkpoint files present (checked or not), oldest first."""
        if not self.directory.is_dir():
            return []
        found = (_CHECKPOINT_NAME.fullmatch(p.name) for p in self.directory.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def save(self, step: int, payload: dict) -> Path:
        """Write the checkpoint for ``step`` and its checksum, then delete all but the newest ``keep``."""
        path = self.path_for(step)
        data = _serialize(payload)
        atomic_write_bytes(path, data)
        atomic_write_text(_checksum_path(path), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
        self._prune()
        return path

    def load_latest(self) -> tuple[int, dict] | None:
        """Newest checkpoint that passes its checksum and loads, as ``(step, payload)``; None if there is none.

        Each checkpoint skipped on the way is named in a warning with the reason.
        """
        for step in reversed(self.steps()):
            path = self.path_for(step)
            try:
                return step, self._load(path)
            except (CheckpointError, OSError) as error:
                warnings.warn(f"skipping checkpoint {path}: {error}; trying the previous one", stacklevel=2)
        return None

    def _load(self, path: Path) -> dict:
        checksum_path = _checksum_path(path)
        if not checksum_path.exists():
            raise CheckpointError(f"no checksum file {checksum_path.name} (the save was interrupted?)")
        data = path.read_bytes()
        expected = (checksum_path.read_text().split() or [""])[0]  # "<hex digest>  <file name>"
        if hashlib.sha256(data).hexdigest() != expected:
            raise CheckpointError(f"sha256 mismatch ({len(data)} bytes): the file is truncated or corrupted")
        try:
            payload = _deserialize(data)
        except Exception as error:  # torch.load raises many types for bytes it cannot read
            raise CheckpointError(f"unreadable by torch.load ({type(error).__name__}: {error})") from error
        if not isinstance(payload, dict):
            raise CheckpointError(f"holds a {type(payload).__name__}, expected a dict")
        return payload

    def _prune(self) -> None:
        for step in self.steps()[: -self.keep]:
            path = self.path_for(step)
            path.unlink(missing_ok=True)
            _checksum_path(path).unlink(missing_ok=True)
        for leftover in self.directory.glob(".ckpt-*.tmp"):  # temporary files of a save that was killed
            leftover.unlink(missing_ok=True)


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")
