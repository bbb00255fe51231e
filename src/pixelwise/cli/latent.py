"""``pixelwise latent train | eval | sample``: the autoencoder family on digits, MNIST or a folder."""

from __future__ import annotations

import argparse

from pixelwise.cli.types import check_output, seed
from pixelwise.errors import PixelwiseError

MODEL_CHOICES = "ae, convae, vae, dae, sparse, cae, vqvae, gan or wgan"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("latent", help="train, evaluate and sample autoencoders (AE, VAE, VQ-VAE, ...)",
                              description="Autoencoders and anomaly detection on image collections.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))

    t = sub.add_parser("train", help="train an autoencoder and evaluate it on a held-out test split")
    t.add_argument("--model", default="convae", help=f"{MODEL_CHOICES} (default convae)")
    t.add_argument("--data", default="digits",
                   help="mnist (downloaded once), mnist-test, digits (bundled 8x8), an .npz file or a folder")
    t.add_argument("--out", default="runs/latent", help="run folder to create (default runs/latent)")
    t.add_argument("--latent-dim", type=int, default=16, help="code size d (default 16)")
    t.add_argument("--minutes", type=float, default=None,
                   help="time budget of the whole run; the schedule is planned to fit (vqvae: shared with its "
                        "prior, see --prior-share)")
    t.add_argument("--epochs", type=int, default=None, help="default 30 (the upper bound with --minutes)")
    t.add_argument("--lr", type=float, default=None, dest="lr_given",
                   help="learning rate (default 1e-3; 2e-4 for gan, 1e-4 for wgan)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--size", type=int, default=None, help="folders: resize images to SIZE x SIZE")
    t.add_argument("--max-images", type=int, default=None, help="a seeded random subset of this many images")
    t.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions (default 0.8,0.1,0.1)")
    t.add_argument("--base", type=int, default=32, help="conv channels of the first stage")
    t.add_argument("--hidden", type=int, default=256, help="MLP hidden width")
    t.add_argument("--recon", choices=("mse", "bce"), default=None,
                   help="default: bce for vae, mse otherwise")
    t.add_argument("--beta", type=float, default=1.0, help="vae: KL weight")
    t.add_argument("--corruption", default="gaussian", choices=("gaussian", "masking", "salt_pepper"))
    t.add_argument("--noise", type=float, default=0.3, help="dae: sigma, or the probability p")
    t.add_argument("--sparsity", default="kl", choices=("kl", "l1"), help="sparse: the code penalty")
    t.add_argument("--sparsity-weight", type=float, default=0.1)
    t.add_argument("--rho", type=float, default=0.05, help="sparse (kl): target mean activation")
    t.add_argument("--contractive", type=float, default=0.1, help="cae: lambda of ||dh/dx||_F^2")
    t.add_argument("--num-codes", type=int, default=64, help="vqvae: codebook size K")
    t.add_argument("--commitment", type=float, default=0.25, help="vqvae: commitment weight beta")
    t.add_argument("--prior-share", type=float, default=0.2,
                   help="vqvae: share of --minutes for fitting the PixelCNN prior over codes after the VQ-VAE "
                        "(default 0.2)")
    t.add_argument("--prior-epochs", type=int, default=None,
                   help="vqvae: prior epochs (default 30; the upper bound with --minutes)")
    t.add_argument("--prior-layers", type=int, default=6, help="vqvae: gated PixelCNN layers (default 6)")
    t.add_argument("--anomaly-class", type=int, default=None,
                   help="hold this label out of training and score it as the anomaly at test time")
    t.add_argument("--fpr", type=float, default=0.05,
                   help="anomaly threshold: the false positive rate on validation images")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="re-evaluate a run (its test split, or every image of --data)")
    e.add_argument("--run", required=True, help="run folder")
    e.add_argument("--data", default=None, help="another source to evaluate on (e.g. mnist-test)")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("sample", help="decode random codes (N(0, I); the VQ-VAE's PixelCNN prior) into a PNG grid")
    s.add_argument("--run", required=True, help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--out", default=None, help="PNG path (default RUN/plots/samples_seedS.png)")
    s.set_defaults(func=cmd_sample)


def _fractions(text: str) -> tuple[float, float, float]:
    from pixelwise.data.splits import parse_fractions

    return parse_fractions(text)


def _threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise PixelwiseError(f"--threads {n} must be >= 1.")
        import torch

        torch.set_num_threads(n)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.tasks.autoencoding import LatentConfig, run

    _threads(args.threads)
    epochs = args.epochs if args.epochs is not None else (1000 if args.minutes else 30)
    if args.model in ("gan", "wgan"):
        from pixelwise.tasks.gan import GANConfig
        from pixelwise.tasks.gan import run as run_gan

        config = GANConfig(data=args.data, out=args.out, model=args.model, latent_dim=args.latent_dim,
                           base=args.base, size=args.size, max_images=args.max_images, epochs=epochs,
                           minutes=args.minutes, lr=args.lr_given, batch_size=args.batch_size, seed=args.seed)
        result = run_gan(config, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet)
        print(f"run folder: {result.run_dir}")
        return 0
    args.lr = args.lr_given if args.lr_given is not None else 1e-3
    config = LatentConfig(
        data=args.data, out=args.out, model=args.model, latent_dim=args.latent_dim, size=args.size,
        max_images=args.max_images, base=args.base, hidden=args.hidden, recon=args.recon, beta=args.beta,
        corruption=args.corruption, noise=args.noise, sparsity=args.sparsity,
        sparsity_weight=args.sparsity_weight, rho=args.rho, contractive=args.contractive,
        num_codes=args.num_codes, commitment=args.commitment, prior_share=args.prior_share,
        prior_epochs=args.prior_epochs if args.prior_epochs is not None else (1000 if args.minutes else 30),
        prior_layers=args.prior_layers,
        anomaly_class=args.anomaly_class, false_positive_rate=args.fpr, split=_fractions(args.split),
        epochs=epochs, minutes=args.minutes, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    result = run(config, overwrite=args.overwrite, resume=args.resume, progress=not args.quiet)
    print(f"run folder: {result.run_dir}")
    return 0


def _is_gan_run(run: str) -> bool:
    from pathlib import Path

    from pixelwise.train import read_json

    path = Path(run) / "config.json"
    return path.is_file() and read_json(path).get("model") in ("gan", "wgan")


def cmd_eval(args: argparse.Namespace) -> int:
    if _is_gan_run(args.run):
        from pixelwise.tasks.gan import evaluate as evaluate_gan

        if args.data is not None:
            raise PixelwiseError("a GAN run is evaluated by its samples; --data does not apply.")
        evaluate_gan(args.run)
        return 0
    from pixelwise.tasks.autoencoding import evaluate

    evaluate(args.run, args.data)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    if _is_gan_run(args.run):
        from pixelwise.tasks.gan import sample
    else:
        from pixelwise.tasks.autoencoding import sample
    if args.out:
        check_output(args.out, folder=False)
    path = sample(args.run, args.n, args.seed, args.out)
    print(f"wrote {args.n} samples to {path}")
    return 0
