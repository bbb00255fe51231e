"""Wavelet transforms against PyWavelets (the oracle, in [dev]): the filters of (W1)-(W2), the multi-level 2-D
transform in the layout of ``pywt.coeffs_to_array``, orthogonality, zero padding of other sizes, and the level
rule. (The adjoint and autograd checks are in the one operator table, tests/test_physics_operators.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics import Wavelet, daubechies_filter, max_level, wavelet_filters

pywt = pytest.importorskip("pywt")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("order", range(1, 11))
def test_daubechies_filters_are_pywavelets_filters(order):
    h, g = wavelet_filters(f"db{order}")
    reference = pywt.Wavelet(f"db{order}")
    np.testing.assert_allclose(h.numpy(), reference.dec_lo, atol=1e-12)
    np.testing.assert_allclose(g.numpy(), reference.dec_hi, atol=1e-12)
    # orthonormal: unit norm, orthogonal to its even shifts, sum sqrt(2), p vanishing moments of g
    assert float((h * h).sum()) == pytest.approx(1.0, abs=1e-12)
    for shift in range(2, h.numel(), 2):
        assert float((h[shift:] * h[:-shift]).sum()) == pytest.approx(0.0, abs=1e-12)
    j = torch.arange(g.numel(), dtype=torch.float64)
    for moment in range(order):
        assert float((g * j**moment).sum()) == pytest.approx(0.0, abs=1e-8 * 10**moment)


def test_haar_is_the_pairwise_sum_and_difference_by_hand():
    torch.testing.assert_close(daubechies_filter(1), torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5)
    x = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]]]], dtype=torch.float64)
    # one level of a 2x2 block: (a + b + c + d) / 2 and the three differences / 2
    expected = torch.tensor([[[[8.0, -2.0], [-4.0, 0.0]]]], dtype=torch.float64)
    torch.testing.assert_close(Wavelet("haar", 1).A(x), expected)


def _pywt_array(x: np.ndarray, name: str, levels: int) -> np.ndarray:
    with warnings.catch_warnings():  # pywt warns when a level is deep enough for its boundary to show
        warnings.simplefilter("ignore")
        return pywt.coeffs_to_array(pywt.wavedec2(x, name, mode="periodization", level=levels))[0]


@pytest.mark.parametrize("name, levels, size", [("haar", 1, (6, 10)), ("haar", 4, (32, 48)), ("db2", 2, (20, 28)),
                                                 ("db4", 2, (32, 48)), ("db6", 1, (24, 22)), ("db8", 1, (32, 32))])
def test_multilevel_transform_is_pywavelets_periodization(name, levels, size):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    ours = Wavelet(name, levels).A(x)
    expected = np.stack([[_pywt_array(x[i, c].numpy(), name, levels) for c in range(3)] for i in range(2)])
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    # orthogonal: A^T A = I and A A^T = I at sizes that need no padding
    op = Wavelet(name, levels)
    torch.testing.assert_close(op.A_adjoint(ours), x, rtol=0, atol=1e-12)
    y = torch.randn_like(x)
    torch.testing.assert_close(op.A(op.A_adjoint(y)), y, rtol=0, atol=1e-12)


def test_other_sizes_are_zero_padded_to_the_next_multiple():
    x = torch.randn(1, 1, 15, 21, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = Wavelet("db2", 2, size=(15, 21))
    coefficients = op.A(x)
    assert coefficients.shape == (1, 1, 16, 24)
    padded = np.zeros((16, 24))
    padded[:15, :21] = x[0, 0].numpy()
    np.testing.assert_allclose(coefficients[0, 0].numpy(), _pywt_array(padded, "db2", 2), atol=1e-12)
    torch.testing.assert_close(op.A_adjoint(coefficients), x, rtol=0, atol=1e-12)  # an isometry: A^T A = I
    assert op.detail_mask((15, 21))[:4, :6].sum() == 0 and op.detail_mask((15, 21)).sum() == 16 * 24 - 4 * 6


@pytest.mark.parametrize("name, size", [("db4", (28, 28)), ("db4", (256, 256)), ("haar", (8, 8)), ("db2", (5, 40)),
                                        ("db10", (20, 20))])
def test_max_level_is_pywavelets_rule(name, size):
    assert max_level(size, name) == max(0, pywt.dwt_max_level(min(size), pywt.Wavelet(name).dec_len))


def test_energy_of_a_smooth_image_gathers_in_the_approximation():
    """The property a sparsity prior relies on: a smooth image (periodic, as the transform is) has small detail
    coefficients."""
    t = torch.arange(64, dtype=torch.float64) * (2 * torch.pi / 64)
    smooth = (torch.sin(t)[:, None] * torch.cos(2 * t)[None, :])[None, None]
    op = Wavelet("db4", 2)
    c = op.A(smooth)
    detail = float((c * op.detail_mask((64, 64))).pow(2).sum())
    assert detail < 0.01 * float(c.pow(2).sum())


@pytest.mark.parametrize("make, words", [
    (lambda: Wavelet("db4", 0), "levels=0"),
    (lambda: Wavelet("db11", 1), "db11"),
    (lambda: Wavelet("db2", 5, size=(30, 30)), "too deep"),
    (lambda: Wavelet("haar", 2).A_adjoint(torch.zeros(1, 1, 6, 8)), "do not come from"),
    (lambda: daubechies_filter(0), "1..10"),
])
def test_bad_wavelet_settings_are_refused_in_one_sentence(make, words):
    with pytest.raises(PixelwiseError, match=words) as err:
        make()
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
