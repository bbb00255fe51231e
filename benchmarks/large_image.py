"""Peak memory and time of segmenting one large image window by window: ``pixelwise segment predict --tile``
against MONAI's ``sliding_window_inference`` on the same network, image, windows, overlap and batch of windows.

Target (issue 20): a 4096 x 4096 RGB image predicts in under 2 GiB of peak resident memory, bounded by the windows
in flight, not by the image (the whole image through the default U-Net at once would need its 32-channel first
level, 2 GiB a feature map, several times over). Each side runs in a fresh process and reports its peak RSS
(``ru_maxrss``), which includes torch itself: the ``baseline`` row is a process that imports the same and
predicts nothing. The run has random weights (memory and speed do not depend on them) and ``--resize none``, so
the network sees the image's own pixels.

    python benchmarks/large_image.py --size 4096 --tile 512
    python benchmarks/large_image.py --size 512 --tile 128 --base 8      # toy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, machine

SRC = Path(__file__).resolve().parents[1] / "src"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="the image's side")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--tile-batch", type=int, default=4)
    parser.add_argument("--base", type=int, default=32, help="U-Net channels of the first level (the default's)")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--side", default=None, help=argparse.SUPPRESS)  # child: pixelwise, monai or baseline
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--image", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def prepare(args, root: Path) -> tuple[Path, Path]:
    """A run folder with random weights and a smooth random RGB image of ``size`` x ``size`` (PNG)."""
    import torch

    from pixelwise.data.io import write_image
    from pixelwise.tasks.segment import SegmentationConfig, build_model
    from pixelwise.train import save_weights
    from pixelwise.train.files import write_json
    from pixelwise.train.runs import config_dict

    config = SegmentationConfig(data=str(root), out=str(root / "run"), size=256, resize="none", base_channels=args.base,
                                depth=args.depth, norm_mean=[0.5] * 3, norm_std=[0.25] * 3)
    torch.manual_seed(0)
    write_json(root / "run" / "config.json", config_dict(config))
    save_weights(build_model(config), root / "run" / "checkpoints" / "best.safetensors")
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (args.size // 64 + 1, args.size // 64 + 1, 3)).astype(np.uint8)
    image = np.repeat(np.repeat(coarse, 64, 0), 64, 1)[:args.size, :args.size]
    write_image(root / "image.png", np.ascontiguousarray(image))
    return root / "run", root / "image.png"


def child(args) -> None:
    """One side, in this fresh process: predict the image (imports before the clock), print seconds and peak RSS."""
    import torch

    from pixelwise.data.io import read_image, write_image
    from pixelwise.models.inference import optimize_for_inference
    from pixelwise.models.tiling import Tiles
    from pixelwise.tasks.segment import load_run, predict
    from pixelwise.tasks.segment.data import to_tensor

    if args.side == "monai":
        from monai.inferers import sliding_window_inference
    t = time.perf_counter()
    out = Path(args.image).parent / args.side
    if args.side == "pixelwise":
        predict(args.run, [args.image], out, progress=False, tiles=Tiles(args.tile, args.overlap, args.tile_batch),
                device="cpu")
    elif args.side == "monai":  # the same steps by hand: decode, normalise, windows, threshold, write
        config, net = load_run(args.run)
        net = optimize_for_inference(net, shuffle_up=False)
        x = to_tensor(read_image(args.image)[None], config.norm_mean, config.norm_std)
        with torch.inference_mode():
            logits = sliding_window_inference(x, (args.tile, args.tile), args.tile_batch, net, overlap=args.overlap,
                                              mode="gaussian")
        write_image(out / "image.png", ((logits[0, 0] > 0).numpy() * 255).astype(np.uint8))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mib": round(peak, 1)}))


def side(args, name: str, run: Path, image: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--side", name, "--run", str(run), "--image",
                           str(image)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)}, cwd=Path(__file__).parent)
    if done.returncode != 0:
        raise SystemExit(f"the {name} side failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = options()
    if args.side:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run, image = prepare(args, Path(tmp))
        rows = {name: side(args, name, run, image) for name in ("baseline", "pixelwise", "monai")}
    ours, theirs = rows["pixelwise"], rows["monai"]
    emit({"benchmark": "large_image", "machine": machine(), "image": f"{args.size}x{args.size} RGB",
          "tile": args.tile, "overlap": args.overlap, "tile_batch": args.tile_batch,
          "network": f"U-Net depth {args.depth}, base {args.base}", **rows,
          "target_peak_rss_mib": 2048, "pixelwise_under_target": ours["peak_rss_mib"] < 2048,
          "peak_rss_ratio_pixelwise_over_monai": ours["peak_rss_mib"] / theirs["peak_rss_mib"],
          "seconds_ratio_pixelwise_over_monai": ours["seconds"] / theirs["seconds"]})


if __name__ == "__main__":
    main()
