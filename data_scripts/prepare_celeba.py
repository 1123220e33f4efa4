"""Turn a CelebA folder into the compact cache the GAIA chapter reads (``data_root`` = the .npz).

    python data_scripts/prepare_celeba.py CELEBA_FOLDER OUT.npz [--size 64] [--crop 140] [--quality 90]

The folder has the original layout (img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt; any
subset of the images). Each image is centre-cropped, resized and stored as JPEG bytes in one .npz with the attribute
rows and the split, so 6,000 faces at 64 x 64 take a few MB and travel with the checkout (keep the file in an
ignored folder such as .cache/: the cache is derived from CelebA and must never be committed).
"""
import argparse
import time

from acai_repro.data.celeba import CROP, load_celeba, write_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", help="CelebA folder in the original layout")
    parser.add_argument("out", help="the .npz cache to write")
    parser.add_argument("--size", type=int, default=64, help="side of the cached images in px (default 64)")
    parser.add_argument("--crop", type=int, default=CROP, help=f"centre square cut first (default {CROP})")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    args = parser.parse_args()
    start = time.time()
    out = write_cache(args.root, args.out, size=args.size, crop=args.crop, quality=args.quality)
    data = load_celeba(out, size=args.size)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {len(data.images)} images at {args.size} px, "
          f"{len(data.names)} attributes, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
