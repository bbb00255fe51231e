"""Every model family through the one tester (tests/model_tester.py): segmentation, restoration and
reconstruction nets, autoencoders, the VQ-VAE and its PixelCNN prior, the diffusion U-Net, GAN generator,
critic and judge. Odd sizes where a model takes any size."""

from __future__ import annotations

import pytest
import torch
from model_tester import ModelCase, check_model

from pixelwise.models import (
    FCN,
    SRCNN,
    VDSR,
    ContrastiveNet,
    ConvReconstructionNet,
    DIPNet,
    DnCNN,
    LinearClassifier,
    PostUpsample,
    ResidualUNet,
    SegmentViT,
    UNet,
    Unrolled,
    ViTReconstructionNet,
    encoder_of,
)
from pixelwise.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from pixelwise.models.diffusion_unet import TimeUNet
from pixelwise.models.discriminator import PatchDiscriminator
from pixelwise.models.gan import GAN, DigitClassifier, Discriminator, Generator
from pixelwise.models.pixelcnn import PixelCNNPrior
from pixelwise.models.vqvae import VQVAE
from pixelwise.physics import MRI, Inpainting, Radon, random_mask, views

pytestmark = pytest.mark.usefixtures("one_thread")


def _codes(shape, k):
    return lambda g: (torch.randint(0, k, shape, generator=g),)


def _timed(shape, classes=0, T=50):
    def inputs(g):
        x, t = torch.randn(*shape, generator=g), torch.randint(0, T, (shape[0],), generator=g)
        return (x, t) if not classes else (x, t, torch.randint(0, classes + 1, (shape[0],), generator=g))
    return inputs


def _ae(kind="x_hat"):
    """Autoencoders return an AEOutput: check x_hat, and train through the reconstruction and the code."""
    return dict(output=lambda o: o.x_hat, loss=lambda o: o.x_hat.pow(2).mean() + o.z.pow(2).mean()
                + (o.logvar.pow(2).mean() if o.logvar is not None else 0)
                + (o.codebook_loss + o.commitment_loss if o.codebook_loss is not None else 0))


def _unrolled(op, shape, shared):
    y_shape = op.output_shape(shape)
    return ModelCase(f"unrolled-{type(op).__name__}-{'shared' if shared else 'own'}",
                     lambda: Unrolled(op, 1, iterations=3, step=0.5, shared=shared, width=4, layers=2), y_shape, shape)


def _masked(shape, visible):
    """A batch and the indices of ``visible`` random tokens of each image (the MAE's input)."""
    def inputs(g):
        keep = torch.stack([torch.randperm(16, generator=g)[:visible] for _ in range(shape[0])])
        return ((torch.randn(*shape, generator=g), keep),)
    return inputs


def _unet(c=3, depth=2):
    return encoder_of(UNet(c, 1, depth=depth, base_channels=4))


def _vit(c=3):
    return encoder_of(SegmentViT(c, 1, image_size=32, patch_size=8, dim=16, depth=1, heads=2))


_G = torch.Generator().manual_seed(0)
CASES = [
    ModelCase("contrastive-unet-odd", lambda: ContrastiveNet(_unet(), 8, 5), (3, 3, 13, 11), (3, 5)),
    ModelCase("contrastive-vit", lambda: ContrastiveNet(_vit(1), 8, 4), (2, 1, 32, 32), (2, 4)),
    ModelCase("reconstruction-unet-odd", lambda: ConvReconstructionNet(_unet(1, 3), 1), (2, 1, 13, 19), (2, 1, 13, 19)),
    ModelCase("mae-vit", lambda: ViTReconstructionNet(_vit(), 3, decoder_dim=8, heads=2), _masked((2, 3, 32, 32), 5),
              (2, 3, 32, 32)),
    ModelCase("linear-classifier-vit-odd", lambda: LinearClassifier(_vit(), 4), (2, 3, 29, 30), (2, 4)),
    # segmentation
    ModelCase("unet-same-odd", lambda: UNet(3, 1, depth=3, base_channels=4), (2, 3, 37, 51), (2, 1, 37, 51)),
    ModelCase("unet-bilinear-group", lambda: UNet(1, 3, depth=2, base_channels=4, norm="group", up="bilinear"),
              (1, 1, 32, 32), (1, 3, 32, 32)),
    ModelCase("unet-same-tiny", lambda: UNet(3, 2, depth=4, base_channels=2), (2, 3, 5, 7), (2, 2, 5, 7)),
    ModelCase("unet-valid", lambda: UNet(3, 2, depth=2, base_channels=4, padding="valid", norm="none"),
              (1, 3, 44, 60), (1, 2, 4, 20)),
    ModelCase("vit", lambda: SegmentViT(3, 1, image_size=32, patch_size=8, dim=16, depth=2, heads=2), (2, 3, 32, 32),
              (2, 1, 32, 32)),
    ModelCase("vit-other-size", lambda: SegmentViT(3, 2, image_size=32, patch_size=8, dim=16, depth=1, heads=4),
              (1, 3, 45, 27), (1, 2, 45, 27)),
    ModelCase("fcn", lambda: FCN(3, 1, base_channels=4, depth=2), (2, 3, 33, 30), (2, 1, 33, 30)),
    ModelCase("fcn-dilated", lambda: FCN(1, 4, base_channels=4, depth=3, dilations=(1, 2, 4)), (1, 1, 40, 40),
              (1, 4, 40, 40)),
    ModelCase("fcn-coarse", lambda: FCN(1, 10, base_channels=4, depth=2, classifier_kernel=7, upsample="none"),
              (3, 1, 28, 28), (3, 10, 1, 1)),
    # restoration and reconstruction
    ModelCase("dncnn-grey", lambda: DnCNN(1, depth=4, width=8), (2, 1, 13, 17), (2, 1, 13, 17)),
    ModelCase("dncnn-colour", lambda: DnCNN(3, depth=3, width=8), (2, 3, 9, 8), (2, 3, 9, 8)),
    ModelCase("dncnn-nobn", lambda: DnCNN(1, depth=3, width=8, batch_norm=False), (1, 1, 7, 7), (1, 1, 7, 7)),
    ModelCase("srcnn", lambda: SRCNN(1, f1=8, f2=4), (2, 1, 15, 11), (2, 1, 15, 11)),
    ModelCase("srcnn-colour", lambda: SRCNN(3, f1=8, f2=4), (1, 3, 12, 12), (1, 3, 12, 12)),
    ModelCase("vdsr", lambda: VDSR(1, depth=5, width=8), (2, 1, 11, 13), (2, 1, 11, 13)),
    ModelCase("post-shuffle-x3", lambda: PostUpsample(1, 3, depth=2, width=8), (2, 1, 7, 5), (2, 1, 21, 15)),
    ModelCase("post-transpose-x3", lambda: PostUpsample(1, 3, depth=2, width=8, up="transpose"), (2, 1, 7, 5),
              (2, 1, 21, 15)),
    ModelCase("post-transpose-x2-colour", lambda: PostUpsample(3, 2, depth=2, width=8, up="transpose"),
              (1, 3, 5, 6), (1, 3, 10, 12)),
    ModelCase("residual-unet", lambda: ResidualUNet(1, depth=2, base_channels=4), (2, 1, 13, 19), (2, 1, 13, 19)),
    ModelCase("dip-net", lambda: DIPNet(1, noise_channels=4, depth=2, base_channels=4), (2, 4, 11, 9), (2, 1, 11, 9)),
    *[_unrolled(op, shape, shared) for op, shape in (
        (Inpainting(random_mask((11, 13), 0.5, _G)), (2, 1, 11, 13)),
        (MRI.cartesian((12, 10), 4.0, None, "equispaced", _G), (2, 1, 12, 10)),
        (Radon((11, 11), views(6)), (1, 1, 11, 11))) for shared in (False, True)],
    ModelCase("patch-discriminator", lambda: PatchDiscriminator(1, width=4, layers=2), (2, 1, 17, 15),
              (2, 1, 4, 3)),
    # autoencoders and the VQ-VAE's prior
    ModelCase("mlp-ae", lambda: MLPAutoencoder((1, 7, 9), 3, hidden=(16,)), (4, 1, 7, 9), (4, 1, 7, 9), **_ae()),
    ModelCase("mlp-ae-sigmoid-code", lambda: MLPAutoencoder((1, 8, 8), 4, hidden=(), code_activation="sigmoid",
                                                            output="linear"), (3, 1, 8, 8), (3, 1, 8, 8), **_ae()),
    ModelCase("mlp-vae", lambda: MLPAutoencoder((1, 6, 5), 2, hidden=(8,), variational=True), (3, 1, 6, 5),
              (3, 1, 6, 5), **_ae()),
    ModelCase("conv-ae-odd", lambda: ConvAutoencoder((1, 13, 11), 5, base=4), (2, 1, 13, 11), (2, 1, 13, 11), **_ae()),
    ModelCase("conv-ae-map", lambda: ConvAutoencoder((3, 12, 12), 4, base=4, bottleneck="map"), (2, 3, 12, 12),
              (2, 3, 12, 12), **_ae()),
    ModelCase("conv-vae", lambda: ConvAutoencoder((1, 8, 8), 3, base=4, variational=True), (4, 1, 8, 8),
              (4, 1, 8, 8), **_ae()),
    ModelCase("vqvae-odd", lambda: VQVAE((1, 9, 7), code_dim=4, num_codes=6, base=4, restart_threshold=0.0),
              (3, 1, 9, 7), (3, 1, 9, 7), **_ae()),
    ModelCase("pixelcnn", lambda: PixelCNNPrior(num_codes=7, channels=8, layers=3), _codes((2, 5, 6), 7),
              (2, 7, 5, 6)),
    # diffusion
    ModelCase("time-unet", lambda: TimeUNet(1, base=8, mults=(1, 2)), _timed((2, 1, 8, 8)), (2, 1, 8, 8)),
    ModelCase("time-unet-odd-attention", lambda: TimeUNet(2, base=8, mults=(1, 2, 2), attention=2),
              _timed((2, 2, 9, 7)), (2, 2, 9, 7)),
    ModelCase("time-unet-conditional", lambda: TimeUNet(1, base=8, mults=(1, 2), classes=3), _timed((3, 1, 8, 8), 3),
              (3, 1, 8, 8)),
    # GANs and the digit judge
    ModelCase("generator", lambda: Generator((1, 12, 12), latent_dim=6, base=8), (3, 6), (3, 1, 12, 12)),
    ModelCase("critic", lambda: Discriminator((1, 12, 12), base=8, norm="none"), (3, 1, 12, 12), (3,)),
    ModelCase("discriminator-batch-norm", lambda: Discriminator((1, 8, 8), base=4), (4, 1, 8, 8), (4,)),
    ModelCase("gan", lambda: GAN((1, 8, 8), latent_dim=5, base=4), (3, 5), (3, 1, 8, 8), frozen=("discriminator",)),
    ModelCase("digit-classifier", lambda: DigitClassifier((1, 12, 12), num_classes=10, base=4), (5, 1, 12, 12),
              (5, 10)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model_contract(case, tmp_path):
    check_model(case, tmp_path)


def test_the_tester_catches_a_model_that_forgets_a_buffer(tmp_path):
    """A model whose output depends on state outside its state dict fails the save/load round trip."""

    class Forgetful(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
            self.shift = torch.randn(1)  # a plain attribute: not saved

        def forward(self, x):
            return self.conv(x) + self.shift

    with pytest.raises(AssertionError):
        check_model(ModelCase("forgetful", Forgetful, (1, 1, 5, 5), (1, 1, 5, 5)), tmp_path)
