"""Write a small offline test set of real photographs from scikit-image's bundled data (prints JSON).

The standard restoration test sets (BSD68, Set12, Set5, Set14) are not available offline here, so the
restoration benchmarks can be pointed at this stand-in: twelve natural photographs shipped inside the
scikit-image wheel, each centre-cropped to at most ``--size`` x ``--size`` (default 256, the size of most
of Set12) and saved as 8-bit PNG, grey (``--grey``, PIL's ITU-R 601 luma) or RGB. The crop is a multiple of
``--multiple`` (default 12, so that x2, x3 and x4 super-resolution divide it). Numbers measured on it are not
comparable with published tables on the standard sets; compare methods run on it side by side instead.

    python benchmarks/skimage_testset.py /tmp/skimage-grey --grey
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import emit
from PIL import Image

# The natural photographs of skimage.data that need no download (scikit-image 0.26).
NAMES = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
         "moon", "motorcycle_left", "rocket")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--multiple", type=int, default=12)
    parser.add_argument("--grey", action="store_true")
    args = parser.parse_args()
    import skimage.data

    args.out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in NAMES:
        loader = skimage.data.stereo_motorcycle if name == "motorcycle_left" else getattr(skimage.data, name)
        arr = loader()[0] if name == "motorcycle_left" else loader()
        img = Image.fromarray(np.asarray(arr, dtype=np.uint8))
        img = img.convert("L" if args.grey else "RGB")
        w, h = img.size
        side_w = min(w, args.size) // args.multiple * args.multiple
        side_h = min(h, args.size) // args.multiple * args.multiple
        left, top = (w - side_w) // 2, (h - side_h) // 2
        img = img.crop((left, top, left + side_w, top + side_h))
        img.save(args.out / f"{name}.png")
        written[name] = [side_h, side_w]
    emit({"benchmark": "skimage_testset", "out": str(args.out), "grey": args.grey, "images": written})


if __name__ == "__main__":
    main()
