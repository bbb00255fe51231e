"""One parametrised table over every forward operator: adjoint, autograd, shapes, batches, channels."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.physics import (
    MRI,
    OPERATORS,
    AveragePool,
    BicubicDownsample,
    Blur,
    Conv,
    ConvTranspose,
    GaussianNoise,
    Gradient,
    Identity,
    Inpainting,
    PoissonNoise,
    Radon,
    Wavelet,
    box_kernel,
    box_kernel_1d,
    gaussian_kernel,
    gaussian_kernel_1d,
    inner,
    motion_kernel,
    operator_class,
    power_iteration,
    random_mask,
    views,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one intra-op thread is faster


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _conv_weight(c_out, c_in, k):
    return torch.randn(c_out, c_in, k, k, generator=_g(7), dtype=torch.float64)


# name -> builder(channels, (H, W)) -> (operator, expected measurement shape without the batch axis)
CASES = {
    "denoise": lambda c, s: (Identity(), (c, *s)),
    "downsample_r3": lambda c, s: (AveragePool(3), (c, s[0] // 3, s[1] // 3)),
    "bicubic_r2_odd": lambda c, s: (BicubicDownsample(2, input_size=s), (c, -(-s[0] // 2), -(-s[1] // 2))),
    "bicubic_r3": lambda c, s: (BicubicDownsample(3), (c, s[0] // 3, s[1] // 3)),
    "blur_circular_gauss": lambda c, s: (Blur(gaussian_kernel(1.2), "circular"), (c, *s)),
    "blur_circular_even_box": lambda c, s: (Blur(box_kernel(4), "circular"), (c, *s)),
    "blur_zero_motion": lambda c, s: (Blur(motion_kernel(5, 30), "zero"), (c, *s)),
    "blur_zero_even": lambda c, s: (Blur(torch.rand(4, 3, generator=_g(3)), "zero"), (c, *s)),
    "blur_valid": lambda c, s: (Blur(torch.rand(5, 4, generator=_g(4)), "valid"), (c, s[0] - 4, s[1] - 3)),
    # rank-one kernels: two 1-D passes (the SVD's factors, or the makers' own with Blur.separable)
    "blur_zero_separable_box5x3": lambda c, s: (Blur(torch.outer(box_kernel_1d(5), box_kernel_1d(3)), "zero"),
                                                (c, *s)),
    "blur_valid_separable_gauss7": lambda c, s: (Blur(gaussian_kernel(1.0, 7), "valid"), (c, s[0] - 6, s[1] - 6)),
    "blur_valid_separable_factors": lambda c, s: (
        Blur.separable(gaussian_kernel_1d(0.8, 5), torch.randn(4, generator=_g(5)), "valid"),
        (c, s[0] - 4, s[1] - 3)),
    "inpaint": lambda c, s: (Inpainting(random_mask(s, 0.5, _g(1))), (c, *s)),
    "mri_random_4x": lambda c, s: (MRI.cartesian(s, 4, kind="random", generator=_g(2)), (c, *s, 2)),
    "mri_equispaced_8x": lambda c, s: (
        MRI.cartesian(s, 8, 0.08, kind="equispaced", generator=_g(2)), (c, *s, 2)),
    "ct_7_views": lambda c, s: (Radon(s, views(7)), (c, 7, Radon(s, views(7)).detectors)),
    "ct_circle": lambda c, s: (Radon(s, views(5), circle=True), (c, 5, min(s))),
    "ct_sparse_matrix": lambda c, s: (Radon(s, views(7), sparse=True), (c, 7, Radon(s, views(7)).detectors)),
    "conv_stride2_pad1": lambda c, s: (
        Conv(_conv_weight(4, c, 3), stride=2, padding=1, input_size=s),
        (4, (s[0] - 1) // 2 + 1, (s[1] - 1) // 2 + 1)),
    "conv_dilation2": lambda c, s: (Conv(_conv_weight(2, c, 3), dilation=2), (2, s[0] - 4, s[1] - 4)),
    "conv_transpose_stride2": lambda c, s: (
        ConvTranspose(_conv_weight(c, 3, 3), stride=2, padding=1, output_padding=1), (3, 2 * s[0], 2 * s[1])),
    "gradient_neumann": lambda c, s: (Gradient("neumann"), (c, 2, *s)),
    "gradient_periodic": lambda c, s: (Gradient("periodic"), (c, 2, *s)),
    # odd sizes are zero-padded to multiples of 2^levels (an isometry; orthogonal at such sizes, see test_wavelets)
    "wavelet_haar_2_levels": lambda c, s: (Wavelet("haar", 2, size=s), (c, 16, 24)),
    "wavelet_db2_1_level": lambda c, s: (Wavelet("db2", 1, size=s), (c, 16, 22)),
    "composition_blur_then_down": lambda c, s: (
        AveragePool(3) @ Blur(gaussian_kernel(1.0), "circular"), (c, s[0] // 3, s[1] // 3)),
}
SIZE = (15, 21)  # odd sizes, not square, multiples of 3 for the pooling cases


def test_every_registered_operator_is_in_the_table():
    covered = {type(CASES[name](1, SIZE)[0]) for name in CASES}
    missing = [name for name, cls in OPERATORS.items() if cls not in covered]
    assert not missing, f"operators without adjoint tests: {missing}"


def test_the_table_covers_both_blur_paths():
    blurs = {name: CASES[name](1, SIZE)[0] for name in CASES if name.startswith(("blur_zero", "blur_valid"))}
    x = torch.zeros(2, 3, *SIZE)  # the table's largest input: 6 planes
    assert all(op._separable(x) == ("separable" in name) for name, op in blurs.items())
    assert {op.boundary for op in blurs.values() if op.factors is not None} == {"zero", "valid"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_adjoint_shapes_and_autograd(name, channels):
    op, out_shape = CASES[name](channels, SIZE)
    g = _g(11)
    x = torch.randn(2, channels, *SIZE, generator=g, dtype=torch.float64)
    ax = op.A(x)
    assert tuple(ax.shape) == (2, *out_shape)  # shape contract
    y = torch.randn(ax.shape, generator=g, dtype=torch.float64)
    aty = op.A_adjoint(y)
    assert aty.shape == x.shape
    lhs, rhs = float(inner(ax, y)), float(inner(x, aty))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (lhs, rhs)  # <A x, y> = <x, A^T y>
    # A^T agrees with the vector-Jacobian product of autograd through A
    xr = x.clone().requires_grad_(True)
    (vjp,) = torch.autograd.grad(op.A(xr), xr, y)
    torch.testing.assert_close(aty, vjp, rtol=1e-10, atol=1e-10)
    # batches: the batch is the stack of the single images
    torch.testing.assert_close(ax[1:], op.A(x[1:]), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(aty[:1], op.A_adjoint(y[:1]), rtol=1e-10, atol=1e-12)
    # float32 runs too, close to float64
    torch.testing.assert_close(op.A(x.float()).double(), ax, rtol=1e-4, atol=1e-4)
    # normal and the naive reconstruction keep the image shape
    assert op.normal(x).shape == x.shape
    assert op.naive(y).shape == x.shape


CIRCULANT = [n for n in CASES if CASES[n](1, SIZE)[0].fourier_multiplier(SIZE) is not None]


@pytest.mark.parametrize("name", CIRCULANT)
def test_fourier_multiplier_diagonalises_the_normal_operator(name):
    op, _ = CASES[name](1, SIZE)
    x = torch.randn(1, 1, *SIZE, generator=_g(5), dtype=torch.float64)
    via_fft = torch.fft.ifft2(torch.fft.fft2(x) * op.fourier_multiplier(SIZE)).real
    torch.testing.assert_close(via_fft, op.normal(x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name, expected", [
    ("denoise", 1.0), ("downsample_r3", 1 / 3), ("inpaint", 1.0), ("gradient_periodic", None),
    ("blur_circular_gauss", None), ("mri_random_4x", 1.0),
])
def test_operator_norm_by_power_iteration(name, expected):
    op, _ = CASES[name](1, SIZE)
    if expected is None:  # circulant: the largest |K| is the norm
        expected = float(op.fourier_multiplier(SIZE).max()) ** 0.5
    estimate = power_iteration(op, (1, 1, *SIZE), iterations=500, tol=1e-12, generator=_g(9))
    assert estimate == pytest.approx(expected, rel=1e-3)
    assert op.norm((1, 1, *SIZE), generator=_g(9)) == pytest.approx(expected, rel=1e-3)


def test_composition_is_applied_right_to_left():
    blur, down = Blur(gaussian_kernel(1.0)), AveragePool(3)
    x = torch.randn(1, 1, *SIZE, generator=_g(), dtype=torch.float64)
    torch.testing.assert_close((down @ blur).A(x), down.A(blur.A(x)))


def test_transposed_convolution_is_the_adjoint_of_convolution():
    w = _conv_weight(4, 3, 3)
    conv = Conv(w, stride=2, padding=1, input_size=SIZE)
    y = torch.randn(2, 4, 8, 11, generator=_g(), dtype=torch.float64)
    transposed = ConvTranspose(w, stride=2, padding=1, output_padding=(0, 0))
    torch.testing.assert_close(conv.A_adjoint(y), transposed.A(y))


def test_mri_is_the_orthonormal_fft_of_numpy_times_the_mask():
    op = MRI.cartesian(SIZE, 4, generator=_g(3))
    x = torch.randn(1, 1, *SIZE, generator=_g(), dtype=torch.float64)
    mask = np.fft.ifftshift(np.broadcast_to(op.mask.numpy(), SIZE))
    expected = np.fft.fft2(x[0, 0].numpy(), norm="ortho") * mask
    got = torch.view_as_complex(op.A(x)[0, 0].contiguous()).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    zero_filled = np.fft.ifft2(expected, norm="ortho").real
    np.testing.assert_allclose(op.naive(op.A(x))[0, 0].numpy(), zero_filled, atol=1e-12)


def test_circular_blur_is_numpy_fft_convolution():
    k = motion_kernel(6, 20)
    op = Blur(k, "circular")
    x = torch.randn(1, 1, *SIZE, generator=_g(), dtype=torch.float64)
    pad = np.zeros(SIZE)
    pad[: k.shape[0], : k.shape[1]] = k.numpy()
    pad = np.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1))
    expected = np.fft.ifft2(np.fft.fft2(x[0, 0].numpy()) * np.fft.fft2(pad)).real
    np.testing.assert_allclose(op.A(x)[0, 0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("name, u, v, shape", [
    ("gaussian 7x7, in space", gaussian_kernel_1d(1.0), gaussian_kernel_1d(1.0), (3, 2, 15, 21)),
    ("box 4x4 (even), in space", torch.full((4,), 0.25), torch.full((4,), 0.25), (1, 1, 15, 21)),
    ("3x9 (not square, not symmetric), in space", torch.tensor([1.0, 2.0, 4.0]) / 7, torch.arange(1.0, 10.0) / 45,
     (2, 1, 9, 10)),
    ("kernel as tall as the image, in space", torch.ones(9) / 9, torch.ones(5) / 5, (1, 2, 9, 12)),
    ("gaussian 37x37, by FFT", gaussian_kernel_1d(6.0), gaussian_kernel_1d(6.0), (1, 1, 40, 41)),
])
def test_circular_rank_one_blur_is_numpy_fft_convolution(name, u, v, shape):
    # the small rank-one kernels run as periodic padding + two 1-D passes, the large one through the FFT: both
    # must be the DFT-diagonal map, A = F^H diag(K) F and A^T = F^H diag(conj K) F, with K from numpy
    u, v = u.double(), v.double()
    k = torch.outer(u, v)
    op = Blur.separable(u, v, "circular")
    assert op.factors is not None
    x = torch.randn(*shape, generator=_g(3), dtype=torch.float64)
    pad = np.zeros(shape[-2:])
    pad[: k.shape[0], : k.shape[1]] = k.numpy()
    spectrum = np.fft.fft2(np.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1)))
    planes = np.fft.fft2(x.numpy(), axes=(-2, -1))
    np.testing.assert_allclose(op.A(x).numpy(), np.fft.ifft2(planes * spectrum).real, atol=1e-12)
    np.testing.assert_allclose(op.A_adjoint(x).numpy(), np.fft.ifft2(planes * spectrum.conj()).real, atol=1e-12)
    xf = x.float()  # and in float32, the dtype of training and of the benchmarks
    np.testing.assert_allclose(op.A(xf).numpy(), np.fft.ifft2(planes * spectrum).real, atol=1e-5)


def test_zero_boundary_equals_circular_away_from_the_border():
    k = gaussian_kernel(1.0)
    x = torch.randn(1, 1, *SIZE, generator=_g(), dtype=torch.float64)
    a, b = Blur(k, "zero").A(x), Blur(k, "circular").A(x)
    r = k.shape[0] // 2
    torch.testing.assert_close(a[..., r:-r, r:-r], b[..., r:-r, r:-r])


def test_kernels_sum_to_one_and_keep_constants():
    for k in (gaussian_kernel(2.0), box_kernel(3), motion_kernel(9, 45)):
        assert float(k.sum()) == pytest.approx(1.0)
        out = Blur(k, "circular").A(torch.ones(1, 1, 16, 16, dtype=torch.float64))
        torch.testing.assert_close(out, torch.ones_like(out))


@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_gaussian_noise_statistics_and_generator(sigma):
    op = Identity(noise=GaussianNoise(sigma))
    x = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
    y1, y2 = op.forward(x, _g(1)), op.forward(x, _g(1))
    torch.testing.assert_close(y1, y2)  # the generator decides the noise
    assert float(y1.std()) == pytest.approx(sigma, rel=0.05, abs=1e-12)


def test_poisson_noise_mean_and_variance():
    noise = PoissonNoise(peak=50.0)
    y = torch.full((1, 1, 128, 128), 0.4, dtype=torch.float64)
    z = noise(y, _g(2))
    assert float(z.mean()) == pytest.approx(0.4, rel=0.02)
    assert float(z.var()) == pytest.approx(0.4 / 50.0, rel=0.1)


BAD = [
    ("negative sigma", lambda: GaussianNoise(-0.1)),
    ("zero Poisson peak", lambda: PoissonNoise(0)),
    ("Poisson of negative values", lambda: PoissonNoise(10)(-torch.ones(1, 1, 2, 2))),
    ("factor zero", lambda: AveragePool(0)),
    ("not a multiple of r", lambda: AveragePool(4).A(torch.zeros(1, 1, 15, 21))),
    ("image without batch axis", lambda: AveragePool(2).A(torch.zeros(1, 16, 16))),
    ("kernel larger than image", lambda: Blur(box_kernel(9), "circular").A(torch.zeros(1, 1, 5, 5))),
    ("unknown boundary", lambda: Blur(box_kernel(3), "reflect")),
    ("separable factor not 1-D", lambda: Blur.separable(box_kernel(3), box_kernel_1d(3), "zero")),
    ("empty separable factor", lambda: Blur.separable(torch.zeros(0), box_kernel_1d(3), "zero")),
    ("zero sigma kernel", lambda: gaussian_kernel(0.0)),
    ("mask of another size", lambda: Inpainting(torch.ones(8, 8)).A(torch.zeros(1, 1, 9, 8))),
    ("mask not binary", lambda: Inpainting(torch.full((4, 4), 0.5))),
    ("mask removes all", lambda: Inpainting(torch.zeros(4, 4))),
    ("keep fraction zero", lambda: random_mask((4, 4), 0.0)),
    ("random mask that kept none", lambda: random_mask((1, 1), 0.5, torch.Generator().manual_seed(0))),  # 0.97
    ("acceleration leaving no lines", lambda: MRI.cartesian((16, 16), 32, 0.0)),
    ("acceleration below one", lambda: MRI.cartesian((16, 16), 0.5)),
    ("centre fraction above budget", lambda: MRI.cartesian((64, 64), 8, 0.5)),
    ("MRI mask width", lambda: MRI.cartesian((16, 16), 4).A(torch.zeros(1, 1, 16, 20))),
    ("CT image size", lambda: Radon((16, 16), views(4)).A(torch.zeros(1, 1, 16, 17))),
    ("CT no views", lambda: views(0)),
    ("conv channels", lambda: Conv(torch.zeros(2, 3, 3, 3)).A(torch.zeros(1, 1, 8, 8))),
    ("output padding too large", lambda: ConvTranspose(torch.zeros(1, 1, 3, 3), stride=2, output_padding=2)),
    ("unknown operator name", lambda: operator_class("deblur")),
    ("wavelet level too deep", lambda: Wavelet("db4", 3, size=(32, 32))),
    ("wavelet of an odd image without a size", lambda: Wavelet("haar", 1).A(torch.zeros(1, 1, 15, 16))),
    ("wavelet image of another size", lambda: Wavelet("haar", 1, size=(16, 16)).A(torch.zeros(1, 1, 16, 18))),
    ("unknown wavelet", lambda: Wavelet("sym4", 1)),
]


@pytest.mark.parametrize("what, make", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_one_sentence(what, make):
    with pytest.raises(PixelwiseError) as err:
        make()
    message = str(err.value)
    assert message.endswith(".") and "\n" not in message


def test_inpainting_casts_its_mask_once_per_dtype_and_follows_a_new_mask():
    op = Inpainting(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    x = torch.ones(1, 1, 2, 2)
    assert op._m(x) is op._m(x)  # cached in the input's dtype and device
    with pytest.raises(PixelwiseError, match="does not match the image"):
        op.A(torch.ones(1, 1, 3, 2))  # an image of another shape is still checked after the cache is filled
    with pytest.raises(PixelwiseError, match="N, C, H, W"):
        op.A(torch.ones(1, 2, 2))
    torch.testing.assert_close(op.A(x), torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]))
    op.mask = torch.tensor([[0.0, 1.0], [1.0, 1.0]])  # a new mask replaces the cached casts
    torch.testing.assert_close(op.A(x), torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]]))
    with pytest.raises(PixelwiseError):
        op.mask = torch.full((2, 2), 0.5)


def test_inpainting_mask_follows_batch_dtype_channels_and_tensor_subclasses():
    m = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    op = Inpainting(m)
    for x in (torch.ones(2, 1, 2, 3), torch.ones(3, 2, 2, 3), torch.ones(1, 1, 2, 3, dtype=torch.float64),
              torch.nn.Parameter(torch.ones(2, 3, 2, 3)), torch.ones(2, 1, 2, 3)):
        out = op.A(x)
        assert out.dtype == x.dtype and out.shape == x.shape
        torch.testing.assert_close(out, x.detach() * m.to(x.dtype))  # every plane of every image masked
        torch.testing.assert_close(op.A_adjoint(x), x.detach() * m.to(x.dtype))
    with pytest.raises(PixelwiseError, match="does not match the image"):
        Inpainting(torch.ones(2, 2, 3)).A(torch.ones(1, 3, 2, 3))  # 2 mask channels for 3 image channels
    with pytest.raises(TypeError):
        op.A(np.ones((1, 1, 2, 3)))


# (kh, kw) kernels for the zero and valid paths: one that is not rank one (2-D pass) and rank-one ones (1-D passes)
BLUR_KERNELS = {
    "random_5x4": lambda: torch.rand(5, 4, generator=_g(8), dtype=torch.float64),
    "box_5x3": lambda: torch.outer(box_kernel_1d(5), box_kernel_1d(3)),
    "gauss_7x7": lambda: gaussian_kernel(1.3, 7),
    "gauss_9x9": lambda: gaussian_kernel(1.5, 9),  # 81 entries: 1-D passes on 16 planes too
    "signed_rank_one_4x6": lambda: torch.outer(torch.randn(4, generator=_g(13), dtype=torch.float64),
                                               torch.randn(6, generator=_g(14), dtype=torch.float64)),
}


@pytest.mark.parametrize("boundary", ["zero", "valid"])
@pytest.mark.parametrize("kernel", list(BLUR_KERNELS))
@pytest.mark.parametrize("shape", [(1, 1, 67, 45), (2, 3, 40, 33), (16, 1, 24, 20), (1, 2, 9, 70), (1, 2, 19, 23)])
def test_blur_planes_as_channels_match_a_plain_convolution_per_plane(boundary, kernel, shape):
    # the batch and channels become the channels of one depthwise conv, single planes are cut into strips, and
    # rank-one kernels are two 1-D passes: each plane must still be the plain 2-D convolution of that plane,
    # and A^T the plain transposed convolution, cropped to the padding (its exact adjoint)
    k = BLUR_KERNELS[kernel]()
    op = Blur(k, boundary)
    assert (op.factors is not None) == (kernel != "random_5x4")
    x = torch.randn(*shape, generator=_g(9), dtype=torch.float64)
    # the 1-D passes: rank one, and 64 kernel entries or more, or fewer than 16 planes
    assert op._separable(x) == (op.factors is not None and (k.numel() >= 64 or shape[0] * shape[1] < 16))
    kh, kw = k.shape
    left, right, top, bottom = (kw - 1 - kw // 2, kw // 2, kh - 1 - kh // 2, kh // 2) if boundary == "zero" else (
        0, 0, 0, 0)
    planes = torch.nn.functional.pad(x, (left, right, top, bottom)).reshape(
        -1, 1, shape[-2] + top + bottom, shape[-1] + left + right)  # (N*C, 1, Hp, Wp)
    flipped = k.flip(0, 1)[None, None]
    expected = torch.cat([torch.nn.functional.conv2d(p[None], flipped) for p in planes])  # (N*C, 1, H', W')
    ax = op.A(x)
    torch.testing.assert_close(ax, expected.reshape(ax.shape), rtol=1e-12, atol=1e-12)
    y = torch.randn(ax.shape, generator=_g(10), dtype=torch.float64)
    full = torch.cat([torch.nn.functional.conv_transpose2d(p[None], flipped)
                      for p in y.reshape(-1, 1, *ax.shape[-2:])])  # (N*C, 1, Hp, Wp)
    expected_adjoint = full[..., top:top + shape[-2], left:left + shape[-1]].reshape(shape)
    aty = op.A_adjoint(y)
    torch.testing.assert_close(aty, expected_adjoint, rtol=1e-12, atol=1e-12)
    lhs, rhs = float(inner(ax, y)), float(inner(x, aty))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    torch.testing.assert_close(op.A(x.float()), ax.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(op.A_adjoint(y.float()), aty.float(), rtol=1e-5, atol=1e-5)
    # an input that is not contiguous (the same values, columns first in memory)
    torch.testing.assert_close(op.A(x.transpose(-2, -1).contiguous().transpose(-2, -1)), ax, rtol=0, atol=0)


NOT_RANK_ONE = {
    "motion_30deg": lambda: motion_kernel(5, 30),
    "motion_diagonal": lambda: motion_kernel(7, 45),
    "motion_tilted_0.01deg": lambda: motion_kernel(9, 0.01),
    "random_6x6": lambda: torch.rand(6, 6, generator=_g(15), dtype=torch.float64),
    "gaussian_plus_1e-9": lambda: gaussian_kernel(1.0) + 1e-9 * torch.rand(7, 7, generator=_g(16), dtype=torch.float64),
    "anisotropic_gaussian_rotated": lambda: _rotated_gaussian(2.0, 0.7, 30),
}


def _rotated_gaussian(sx, sy, degrees, size=9):
    t = torch.arange(size, dtype=torch.float64) - size // 2
    a = torch.tensor(degrees * torch.pi / 180, dtype=torch.float64)
    r, c = t[:, None], t[None, :]
    k = torch.exp(-((c * a.cos() + r * a.sin()) ** 2 / sx**2 + (r * a.cos() - c * a.sin()) ** 2 / sy**2) / 2)
    return k / k.sum()


@pytest.mark.parametrize("kernel", list(NOT_RANK_ONE))
def test_blur_kernels_that_are_not_rank_one_keep_the_2d_pass(kernel):
    for boundary in ("zero", "valid"):
        assert Blur(NOT_RANK_ONE[kernel](), boundary).factors is None


def test_blur_rank_one_factors_multiply_to_the_kernel_and_given_factors_are_kept():
    for k in (gaussian_kernel(2.0), box_kernel(4), motion_kernel(5, 0), motion_kernel(5, 90),
              -torch.outer(torch.arange(1.0, 4.0), torch.tensor([1.0, -2.0])).double()):
        u, v = Blur(k, "zero").factors
        torch.testing.assert_close(torch.outer(u, v), k, rtol=0, atol=1e-14 * float(k.abs().max()))
        assert float(u[u.abs().argmax()]) > 0
    g = gaussian_kernel_1d(1.5)
    op = Blur.separable(g, box_kernel_1d(3), "valid")
    assert op.factors[0] is not None and torch.equal(op.factors[0], g) and torch.equal(op.factors[1], box_kernel_1d(3))
    torch.testing.assert_close(op.kernel, torch.outer(g, box_kernel_1d(3)), rtol=0, atol=0)
    # a single row or column is one pass already; assigning a kernel that is not rank one drops the factors
    assert Blur(torch.ones(1, 5), "zero").factors is None and Blur(torch.ones(3, 1), "valid").factors is None
    op.kernel = motion_kernel(5, 30)
    assert op.factors is None


@pytest.mark.parametrize("boundary", ["circular", "zero", "valid"])
def test_blur_follows_a_new_kernel(boundary):
    op = Blur(box_kernel(3), boundary)
    x = torch.randn(1, 2, 12, 13, generator=_g(12))
    op.A(x), op.A_adjoint(op.A(x))  # the kernel's casts and spectra are made now
    op.kernel = motion_kernel(5, 30)  # a new kernel replaces them
    fresh = Blur(motion_kernel(5, 30), boundary)
    torch.testing.assert_close(op.A(x), fresh.A(x))
    torch.testing.assert_close(op.A_adjoint(op.A(x)), fresh.A_adjoint(fresh.A(x)))
    with pytest.raises(PixelwiseError):
        op.kernel = torch.ones(3)


def test_kernel_makers_stay_importable_from_the_blur_module():
    import pixelwise.physics.blur as blur
    import pixelwise.physics.kernels as kernels

    for name in ("gaussian_kernel", "gaussian_kernel_1d", "box_kernel", "box_kernel_1d", "motion_kernel",
                 "rank_one_factors", "RANK_ONE_RTOL"):
        assert getattr(blur, name) is getattr(kernels, name), name
    assert blur.gaussian_kernel is gaussian_kernel


def test_a_random_mask_that_kept_nothing_names_the_fix():
    with pytest.raises(PixelwiseError, match=r"kept none of the 1x1 pixels .* raise the kept fraction \(--keep\)"):
        random_mask((1, 1), 0.5, torch.Generator().manual_seed(0))  # its one draw is 0.97 >= 0.5
    assert random_mask((1, 1), 0.5, torch.Generator().manual_seed(1)).tolist() == [[1.0]]  # 0.06 < 0.5: kept


@pytest.mark.parametrize("settings, words", [
    (dict(kernel="motion", motion_length=1e9), "--motion-length 1e+09 asks for a 1000000001x1000000001 blur kernel"),
    (dict(kernel_sigma=1e9), "--kernel-sigma 1e+09 asks for a 6000000001x6000000001 blur kernel"),
    (dict(kernel_size=41), "--kernel-size 41 asks for a 41x41 blur kernel, larger than the image 40x48"),
    (dict(kernel_sigma=7.0), "--kernel-sigma 7 asks for a 43x43 blur kernel"),  # 2 ceil(21) + 1
])
def test_a_blur_kernel_larger_than_the_image_is_refused_before_it_is_built(settings, words):
    """A kernel side worked out from the setting (2 ceil(L / 2) + 1, 2 ceil(3 sigma) + 1) and refused in one
    sentence before any memory is asked for it (a length of 1e9 pixels would ask for 80 GB)."""
    from pixelwise.physics.presets import Measurement, build_operator

    with pytest.raises(PixelwiseError, match=re.escape(words)):
        build_operator(Measurement(operator="blur", **settings), (40, 48))
    assert build_operator(Measurement(operator="blur", kernel_size=39), (40, 48)).kernel.shape == (39, 39)


@pytest.mark.parametrize("settings", [dict(motion_length=math.inf), dict(kernel_sigma=math.inf),
                                      dict(motion_length=math.nan)])
def test_blur_settings_must_be_finite(settings):
    from pixelwise.physics.presets import Measurement

    with pytest.raises(PixelwiseError, match="must be a finite number > 0"):
        Measurement(operator="blur", **settings)
