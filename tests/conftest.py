"""Shared fixtures: small generated data folders (tests never read the development data)."""

from __future__ import annotations

import pytest
import torch

from pixelwise.data.synthetic import write_polyps_folder


@pytest.fixture(scope="session")
def polyp_folder(tmp_path_factory):
    """48 generated 32x32 cases with png images and png masks."""
    return write_polyps_folder(tmp_path_factory.mktemp("polyps") / "data", n=48, size=32, seed=3)


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module of tiny-tensor tests (faster, and much faster on a loaded
    machine); opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def prior_runs(tmp_path_factory):
    """Tiny trained runs for the learned priors of ``pixelwise solve`` (seconds each, not good priors): ``dn`` a grey
    DnCNN denoiser (sigma 25) trained on phantoms, ``inpaint`` a grey restore run that is not a denoiser, ``vae`` an
    8x8 digits VAE and ``ddpm`` an 8x8 digits DDPM with T = 10."""
    from pixelwise.cli import main

    root = tmp_path_factory.mktemp("priors")
    quick = ["--data", "phantoms", "--size", "24", "--phantoms", "8", "--depth", "3", "--width", "8", "--patch", "24",
             "--batch-size", "4", "--steps-per-epoch", "2", "--epochs", "1", "--tv-iterations", "20", "--tv-lambda",
             "0.01", "--quiet"]
    commands = {
        "dn": ["restore", "train", "--task", "denoise", "--model", "dncnn", "--sigma", "25", *quick],
        "inpaint": ["restore", "train", "--task", "inpaint", "--model", "dncnn", *quick],
        "vae": ["latent", "train", "--model", "vae", "--data", "digits", "--latent-dim", "4", "--epochs", "1",
                "--max-images", "64", "--base", "4", "--quiet"],
        "ddpm": ["diffuse", "train", "--data", "digits", "--T", "10", "--base", "8", "--mults", "1,2", "--epochs", "1",
                 "--max-images", "64", "--samples", "2", "--quiet", "--threads", "1"],
    }
    for name, args in commands.items():
        assert main([*args, "--out", str(root / name)]) == 0, name
    return root
