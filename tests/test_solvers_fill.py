"""Inpainting's first guess (normalised convolution, Knutsson & Westin 1993) against values worked out by hand: a
constant image is filled with its constant, a hole in a linear ramp surrounded symmetrically by kept pixels gets
the ramp's value (a symmetric Gaussian average of a linear function is its centre value); and plug-and-play
started there beats the same loop started from the zero-filled image."""

from __future__ import annotations

import pytest
import torch

from pixelwise.data.samples import sample
from pixelwise.metrics import psnr
from pixelwise.physics import Blur, Identity, Inpainting, gaussian_kernel, random_mask
from pixelwise.solvers import tv_pdhg
from pixelwise.solvers.fill import first_guess, normalized_fill
from pixelwise.solvers.pnp import pnp

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("size", [(1, 1, 7, 9), (2, 3, 16, 11)])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_constant_image_is_filled_with_its_constant_and_kept_pixels_stay(size, keep):
    mask = random_mask(size[-2:], keep, torch.Generator().manual_seed(3))
    mask[0, 0] = 1.0  # at least one kept pixel
    y = torch.full(size, 0.37, dtype=torch.float64) * mask
    torch.testing.assert_close(normalized_fill(y, mask), torch.full(size, 0.37, dtype=torch.float64))


def test_a_hole_in_a_linear_ramp_gets_the_ramps_value():
    h, w = 21, 23
    ramp = 0.01 * torch.arange(w, dtype=torch.float64).expand(h, w) + 0.02 * torch.arange(h)[:, None]
    mask = torch.ones(h, w, dtype=torch.float64)
    mask[8:13, 9:14] = 0.0  # a 5 x 5 hole, kept pixels all round it at equal distances
    out = normalized_fill((ramp * mask)[None, None], mask)[0, 0]
    assert abs(float(out[10, 11] - ramp[10, 11])) < 1e-6  # the centre: the neighbourhood is symmetric about it
    assert torch.equal(out[mask > 0], ramp[mask > 0])


def test_nothing_kept_leaves_zeros_and_other_operators_start_from_the_naive_image():
    assert torch.equal(normalized_fill(torch.zeros(1, 1, 5, 6), torch.zeros(5, 6)), torch.zeros(1, 1, 5, 6))
    op = Blur(gaussian_kernel(1.0), "circular")
    y = torch.rand(1, 1, 8, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(first_guess(op, y), op.naive(y))


def test_plug_and_play_inpainting_from_the_fill_beats_the_zero_filled_start():
    """A TV denoiser (a stand-in for a trained one) in DPIR's 8 iterations, 50% of the pixels kept."""
    x = sample("camera", grey=True, size=32)[None].double()
    op = Inpainting(random_mask((32, 32), 0.5, torch.Generator().manual_seed(1)))
    y = op.A(x)

    def tv(v, sigma):
        return tv_pdhg(Identity(), v, 0.5 * sigma, iterations=60)

    from_fill = psnr(pnp(op, y, tv, 0.01)[0].clamp(0, 1), x[0], 1.0)
    from_zeros = psnr(pnp(op, y, tv, 0.01, x0=op.naive(y))[0].clamp(0, 1), x[0], 1.0)
    assert from_fill > from_zeros + 1.0, (from_fill, from_zeros)
