"""Autoencoders: an encoder f: x -> z and a decoder g: z -> x_hat, plain or variational.

- :class:`MLPAutoencoder`: fully connected layers on the flattened image (Hinton and Salakhutdinov,
  "Reducing the dimensionality of data with neural networks", Science 2006). With ``hidden=()`` and no
  activations it is the linear autoencoder whose optimum spans the principal subspace (Baldi and Hornik,
  "Neural networks and principal component analysis", Neural Networks 1989).
- :class:`ConvAutoencoder`: two stride-2 convolution stages and a bottleneck of shape (d,) (= (d, 1, 1),
  through a linear layer) or a small (d, h, w) feature map (1x1 convolution).
- ``variational=True`` turns either into a VAE (Kingma and Welling, "Auto-Encoding Variational Bayes",
  ICLR 2014): the encoder outputs mu and log sigma^2, z = mu + sigma * eps with eps ~ N(0, I) in training
  (the reparameterisation trick) and z = mu in eval mode.

Every ``forward`` returns an :class:`AEOutput`; decoders give logits and ``x_hat = sigmoid(logits)`` when
``output="sigmoid"`` (images in [0, 1]) or ``x_hat = logits`` when ``output="linear"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "none": nn.Identity}


def make_activation(name: str | None) -> nn.Module:
    try:
        return ACTIVATIONS[name or "none"]()
    except KeyError:
        raise ValueError(f"activation {name!r} is not known; use one of {', '.join(ACTIVATIONS)}.") from None


@dataclass
class AEOutput:
    """What an autoencoder returns; the losses in :mod:`pixelwise.losses.latent` read these fields."""

    x_hat: torch.Tensor  # (N, C, H, W) reconstruction in data space
    z: torch.Tensor  # (N, d) code, or (N, d, h, w) for a feature-map bottleneck
    logits: torch.Tensor | None = None  # (N, C, H, W) pre-sigmoid decoder output (None for a linear output)
    mu: torch.Tensor | None = None  # VAE: posterior mean (same shape as z)
    logvar: torch.Tensor | None = None  # VAE: posterior log variance
    x: torch.Tensor | None = None  # the input, kept for penalties that differentiate through the encoder
    codebook_loss: torch.Tensor | None = None  # VQ-VAE terms, see pixelwise.models.vqvae
    commitment_loss: torch.Tensor | None = None
    perplexity: torch.Tensor | None = None
    indices: torch.Tensor | None = None


def _check(name: str, value: int, low: int = 1) -> None:
    if int(value) != value or value < low:
        raise ValueError(f"{name}={value} must be an integer >= {low}.")


class _Base(nn.Module):
    """Shared forward: encode -> (reparameterise) -> decode."""

    variational: bool
    output: str

    def encode(self, x: torch.Tensor):
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z -> x_hat in data space."""
        logits = self.decode_logits(z)
        return torch.sigmoid(logits) if self.output == "sigmoid" else logits

    def forward(self, x: torch.Tensor) -> AEOutput:
        """x: (N, C, H, W) -> AEOutput with x_hat (N, C, H, W) and z (N, d) (or (N, d, h, w))."""
        h = self.encode(x)
        mu = logvar = None
        if self.variational:
            mu, logvar = h.chunk(2, dim=1)  # (N, d) each
            if self.training:
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
            else:
                z = mu
        else:
            z = h
        logits = self.decode_logits(z)
        x_hat = torch.sigmoid(logits) if self.output == "sigmoid" else logits
        return AEOutput(x_hat, z, logits if self.output == "sigmoid" else None, mu, logvar, x)


class MLPAutoencoder(_Base):
    """Fully connected autoencoder on flattened images.

    Shapes: x (N, C, H, W) -> z (N, d) -> x_hat (N, C, H, W).

    Args:
        in_shape: (C, H, W) of the images.
        latent_dim: d.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them); () for one layer each.
        activation: between hidden layers ("relu", "sigmoid", "tanh", "none").
        code_activation: applied to the code ("none", "sigmoid" for the KL sparsity penalty and the
            contractive AE, "relu" for an L1-sparse code).
        output: "sigmoid" (images in [0, 1]) or "linear".
        variational: encoder outputs (mu, log sigma^2), see the module docstring.
    """

    def __init__(self, in_shape: tuple[int, int, int], latent_dim: int, hidden: tuple[int, ...] = (256,),
                 activation: str = "relu", code_activation: str = "none", output: str = "sigmoid",
                 variational: bool = False):
        super().__init__()
        if len(in_shape) != 3:
            raise ValueError(f"in_shape={in_shape} must be (C, H, W).")
        for i, s in enumerate(in_shape):
            _check(f"in_shape[{i}]", s)
        _check("latent_dim", latent_dim)
        for w in hidden:
            _check("hidden width", w)
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output={output!r} must be 'sigmoid' or 'linear'.")
        if variational and code_activation not in ("none", None):
            raise ValueError("a variational code is Gaussian; leave code_activation at 'none'.")
        self.in_shape, self.latent_dim = tuple(in_shape), latent_dim
        self.variational, self.output = variational, output
        n = in_shape[0] * in_shape[1] * in_shape[2]
        widths = [n, *hidden]
        enc: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), make_activation(activation)]
        enc.append(nn.Linear(widths[-1], 2 * latent_dim if variational else latent_dim))
        if not variational:
            enc.append(make_activation(code_activation))
        self.encoder = nn.Sequential(*enc)
        back = [latent_dim, *reversed(hidden)]
        dec: list[nn.Module] = []
        for a, b in zip(back[:-1], back[1:]):
            dec += [nn.Linear(a, b), make_activation(activation)]
        dec.append(nn.Linear(back[-1], n))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, d), or (N, 2d) = (mu, log sigma^2) for a VAE."""
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"this autoencoder takes images of shape {self.in_shape}, "
                             f"got {tuple(x.shape[1:])}.")
        return self.encoder(x.flatten(1))  # (N, C*H*W) -> (N, d)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.in_shape)  # (N, C, H, W)


def _act(c: int) -> tuple[nn.Module, nn.Module]:
    """BatchNorm then LeakyReLU(0.1). Without the normalisation a sigmoid decoder trained with MSE on MNIST
    can drift into saturation (all outputs 0, zero gradient) within a few dozen Adam steps."""
    return nn.BatchNorm2d(c), nn.LeakyReLU(0.1)


def _down(size: int) -> int:
    """Output size of a 3x3 stride-2 convolution with padding 1: ceil(size / 2)."""
    return (size + 1) // 2


class ConvAutoencoder(_Base):
    """Convolutional autoencoder with a configurable bottleneck.

    Shapes: x (N, C, H, W) -> z (N, d) [``bottleneck="vector"``] or (N, d, h, w) [``"map"``] ->
    x_hat (N, C, H, W), where h = ceil(ceil(H / 2) / 2) (two stride-2 stages; 28 -> 14 -> 7, 8 -> 4 -> 2).

    Odd sizes: each stride-2 convolution rounds up (13 -> 7 -> 4); the transposed convolutions of the
    decoder take ``output_padding`` = 1 where the size before the stage was even and 0 where it was odd,
    so the output has exactly the input's size.

    Args:
        in_shape: (C, H, W).
        latent_dim: d (channels of the map bottleneck).
        base: channels of the first stage (the second has 2 * base).
        bottleneck: "vector" (a linear layer to d numbers) or "map" (1x1 convolution to d channels).
        output: "sigmoid" or "linear"; variational: see the module docstring.
    """

    def __init__(self, in_shape: tuple[int, int, int], latent_dim: int, base: int = 32,
                 bottleneck: str = "vector", output: str = "sigmoid", variational: bool = False):
        super().__init__()
        if len(in_shape) != 3:
            raise ValueError(f"in_shape={in_shape} must be (C, H, W).")
        c, h, w = in_shape
        for name, v in (("channels", c), ("latent_dim", latent_dim), ("base", base)):
            _check(name, v)
        _check("height", h, 4)
        _check("width", w, 4)
        if bottleneck not in ("vector", "map"):
            raise ValueError(f"bottleneck={bottleneck!r} must be 'vector' or 'map'.")
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output={output!r} must be 'sigmoid' or 'linear'.")
        self.in_shape, self.latent_dim, self.bottleneck = tuple(in_shape), latent_dim, bottleneck
        self.variational, self.output = variational, output
        self.sizes = [(h, w), (_down(h), _down(w)), (_down(_down(h)), _down(_down(w)))]
        (h1, w1), (h2, w2) = self.sizes[1], self.sizes[2]
        c2 = 2 * base
        self.features = nn.Sequential(
            nn.Conv2d(c, base, 3, stride=2, padding=1), *_act(base),  # (N, base, h1, w1)
            nn.Conv2d(base, base, 3, padding=1), *_act(base),
            nn.Conv2d(base, c2, 3, stride=2, padding=1), *_act(c2),  # (N, 2 base, h2, w2)
            nn.Conv2d(c2, c2, 3, padding=1), *_act(c2),
        )
        k = 2 * latent_dim if variational else latent_dim
        if bottleneck == "vector":
            self.to_code = nn.Sequential(nn.Flatten(), nn.Linear(c2 * h2 * w2, k))
            self.from_code = nn.Sequential(nn.Linear(latent_dim, c2 * h2 * w2), nn.Unflatten(1, (c2, h2, w2)),
                                           *_act(c2))
        else:
            self.to_code = nn.Conv2d(c2, k, 1)
            self.from_code = nn.Sequential(nn.Conv2d(latent_dim, c2, 1), *_act(c2))
        # output_padding = 1 when the larger size is even (2 * small), 0 when odd (2 * small - 1)
        op1 = (1 - h1 % 2, 1 - w1 % 2)
        op0 = (1 - h % 2, 1 - w % 2)
        self.upsample = nn.Sequential(
            nn.Conv2d(c2, c2, 3, padding=1), *_act(c2),
            nn.ConvTranspose2d(c2, base, 3, stride=2, padding=1, output_padding=op1), *_act(base),
            nn.Conv2d(base, base, 3, padding=1), *_act(base),
            nn.ConvTranspose2d(base, base, 3, stride=2, padding=1, output_padding=op0), *_act(base),
            nn.Conv2d(base, c, 3, padding=1),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, d) or (N, d, h2, w2) (twice d channels for a VAE)."""
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"this autoencoder takes images of shape {self.in_shape}, "
                             f"got {tuple(x.shape[1:])}.")
        return self.to_code(self.features(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.from_code(z))  # (N, C, H, W)


__all__ = ["ACTIVATIONS", "AEOutput", "ConvAutoencoder", "MLPAutoencoder", "make_activation"]
