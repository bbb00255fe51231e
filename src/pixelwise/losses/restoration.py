"""Restoration losses ``loss(prediction, target) -> scalar`` (means over every entry), and a TV penalty.

- :func:`l2_loss`: ``mean((p - t)^2)``, the Gaussian log-likelihood (DnCNN, SRCNN, VDSR train with it).
- :func:`l1_loss`: ``mean(|p - t|)``, the Laplacian one; sharper edges in SR (Lim et al. 2017, EDSR).
- :func:`huber_loss`: ``mean(h_delta(p - t))`` with ``h(r) = r^2 / (2 delta)`` for ``|r| <= delta`` and
  ``|r| - delta / 2`` beyond (quadratic near 0, linear in the tails; scaled so the slope is 1 like L1).
- :class:`AdversarialLoss`: the non-saturating GAN term ``BCE(D(p), 1)`` with a patch discriminator ``D``
  trained alongside (SRGAN, Ledig et al. 2017); its whole state (D, D's Adam moments) is in its state dict.
- :func:`tv_penalty`: anisotropic total variation ``mean(|x[i+1, j] - x[i, j]|) + mean(|x[i, j+1] - x[i, j]|)``
  of a prediction, a penalty added with a weight (``RestorationLoss``).

Targets may be measurements (the measurement-only regime compares ``A f(y)`` with ``y``), so shapes are
only required to match; MRI k-space ``(N, C, H, W, 2)`` is fine.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.errors import PixelwiseError

_bce = nn.functional.binary_cross_entropy_with_logits


def _same(p: torch.Tensor, t: torch.Tensor) -> None:
    if p.shape != t.shape:
        raise PixelwiseError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape.")


def l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((p - t)^2)``."""
    _same(prediction, target)
    return ((prediction - target) ** 2).mean()


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean(|p - t|)``."""
    _same(prediction, target)
    return (prediction - target).abs().mean()


def huber_loss(prediction: torch.Tensor, target: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """``mean(h)``, ``h(r) = r^2 / (2 delta)`` if ``|r| <= delta`` else ``|r| - delta / 2``."""
    _same(prediction, target)
    if not delta > 0:
        raise PixelwiseError(f"Huber delta {delta} must be > 0 (e.g. 0.01 for images in [0, 1]).")
    r = (prediction - target).abs()
    return torch.where(r <= delta, r * r / (2 * delta), r - delta / 2).mean()


def tv_penalty(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV of ``(N, C, H, W)``: mean absolute row differences + mean absolute column differences."""
    if x.dim() != 4:
        raise PixelwiseError(f"tv_penalty needs (N, C, H, W), got {tuple(x.shape)}.")
    rows = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() if x.shape[-2] > 1 else x.new_zeros(())
    cols = (x[..., :, 1:] - x[..., :, :-1]).abs().mean() if x.shape[-1] > 1 else x.new_zeros(())
    return rows + cols


LOSSES = {"l2": l2_loss, "l1": l1_loss, "huber": huber_loss}


class RestorationLoss(nn.Module):
    """``fidelity(p, t) + tv_weight * TV(p)``; with ``operator`` the fidelity compares ``A(p)`` with ``t``.

    ``kind``: "l2", "l1" or "huber" (with ``delta``). ``operator``: any object with ``A`` (the
    measurement-only regime, ``||A f(y) - y||``); the TV term always acts on the image ``p``.
    """

    def __init__(self, kind: str = "l2", tv_weight: float = 0.0, delta: float = 0.01, operator=None):
        super().__init__()
        if kind not in LOSSES:
            raise PixelwiseError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}.")
        if not tv_weight >= 0:
            raise PixelwiseError(f"tv_weight {tv_weight} must be >= 0.")
        if not delta > 0:
            raise PixelwiseError(f"Huber delta {delta} must be > 0.")
        self.kind, self.tv_weight, self.delta, self.operator = kind, float(tv_weight), float(delta), operator

    def forward(self, prediction: torch.Tensor, target: torch.Tensor, operator=None) -> torch.Tensor:
        """``operator`` (or the one given at construction) maps the prediction to the measurement first."""
        op = operator if operator is not None else self.operator
        p = op.A(prediction) if op is not None else prediction
        fidelity = huber_loss(p, target, self.delta) if self.kind == "huber" else LOSSES[self.kind](p, target)
        if self.tv_weight > 0:
            fidelity = fidelity + self.tv_weight * tv_penalty(prediction)
        return fidelity


class AdversarialLoss(nn.Module):
    """The generator's adversarial term with its own patch discriminator D, trained inside the call (SRGAN:
    Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network").

    In training mode each call first takes one Adam step on D,
    ``L_D = BCE(D(t), 1) + BCE(D(p.detach()), 0)`` (real targets against the current predictions), then returns
    the generator term ``L_G = BCE(D(p), 1)`` (the non-saturating loss of Goodfellow et al. 2014), through which
    no gradient reaches D. Adam (Kingma and Ba 2015, Algorithm 1) is written out with its moments ``m``, ``v``
    and step ``t`` as buffers, so that they are part of the checkpoint.
    """

    def __init__(self, discriminator: nn.Module, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.999),
                 eps: float = 1e-8):
        super().__init__()
        if not lr > 0 or not all(0 <= b < 1 for b in betas) or not eps > 0:
            raise ValueError(f"discriminator lr={lr} must be > 0, betas={betas} in [0, 1) and eps={eps} > 0.")
        self.discriminator = discriminator
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.register_buffer("adam_step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("last_discriminator_loss", torch.tensor(float("nan")))
        for i, p in enumerate(discriminator.parameters()):
            self.register_buffer(f"exp_avg_{i}", torch.zeros_like(p))
            self.register_buffer(f"exp_avg_sq_{i}", torch.zeros_like(p))

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` prediction and clean target -> the scalar generator term ``L_G``."""
        _same(prediction, target)
        if self.training:
            self.discriminator_step(prediction.detach(), target)
        params = list(self.discriminator.parameters())
        for p in params:  # the generator's gradient must not reach D
            p.requires_grad_(False)
        try:
            logits = self.discriminator(prediction)
        finally:
            for p in params:
                p.requires_grad_(True)
        return _bce(logits, torch.ones_like(logits))

    def discriminator_step(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        """One Adam step on ``L_D``; its value is kept in ``last_discriminator_loss``."""
        params = list(self.discriminator.parameters())
        with torch.enable_grad():
            r, f = self.discriminator(real), self.discriminator(fake)
            loss = _bce(r, torch.ones_like(r)) + _bce(f, torch.zeros_like(f))
            grads = torch.autograd.grad(loss, params)
        b1, b2 = self.betas
        with torch.no_grad():
            self.adam_step += 1
            t = int(self.adam_step)
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                m, v = getattr(self, f"exp_avg_{i}"), getattr(self, f"exp_avg_sq_{i}")
                m.mul_(b1).add_(g, alpha=1 - b1)  # m_t = b1 m_{t-1} + (1 - b1) g
                v.mul_(b2).addcmul_(g, g, value=1 - b2)  # v_t = b2 v_{t-1} + (1 - b2) g^2
                denominator = (v / (1 - b2**t)).sqrt_().add_(self.eps)  # sqrt(v_t / (1 - b2^t)) + eps
                p.addcdiv_(m, denominator, value=-self.lr / (1 - b1**t))  # - lr m_t / (1 - b1^t) / (...)
            self.last_discriminator_loss.fill_(loss.detach())
