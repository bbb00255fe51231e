"""Registration (pixelwise.registration): each similarity measure by hand, the warp's coordinates by hand, recovery
of a known affine transform beside SimpleITK (the oracle), of a known smooth deformation to a stated accuracy,
inverse consistency, the regularisers by hand, and the spatial transformer layer learning known transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_tester import ModelCase, check_model
from scipy import ndimage

from pixelwise.models import SpatialTransformer
from pixelwise.registration import (
    Registration,
    affine_grid,
    bending,
    centred_points,
    diffusion,
    inverse_consistency,
    jacobian_determinant,
    local_ncc,
    ncc,
    nmi,
    register,
    sad,
    ssd,
    warp,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def t(values, shape=(1, 1, 2, 2)) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(shape)


def test_ssd_sad_ncc_by_hand():
    a, b = t([1, 2, 3, 4]), t([2, 2, 2, 2])
    assert ssd(a, b).item() == pytest.approx((1 + 0 + 1 + 4) / 4)
    assert sad(a, b).item() == pytest.approx((1 + 0 + 1 + 2) / 4)
    # centred: (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): covariance 4, each sum of squares 5
    assert ncc(a, t([1, 3, 2, 4])).item() == pytest.approx(4 / 5)
    assert ncc(a, 3 * a + 1).item() == pytest.approx(1, abs=1e-8) and ncc(a, -a).item() == pytest.approx(-1, abs=1e-8)
    two = torch.cat([a, -a])  # a batch of two pairs: one value each
    assert ncc(two, a).tolist() == pytest.approx([1, -1], abs=1e-8)


def test_local_ncc_is_one_for_local_affine_relations_and_minus_one_for_inversions():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 9, 11, generator=g, dtype=torch.float64)
    assert local_ncc(a, 2 * a - 1, window=3).item() == pytest.approx(1, abs=1e-6)
    assert local_ncc(a, -a, window=5).item() == pytest.approx(-1, abs=1e-5)
    # a slowly varying gain: nearly 1 locally, less so globally
    gain = torch.linspace(0.2, 3, 11, dtype=torch.float64).view(1, 1, 1, 11)
    assert local_ncc(a, a * gain, 3).item() > ncc(a, a * gain).item() + 0.1
    with pytest.raises(ValueError, match="odd"):
        local_ncc(a, a, window=4)


def test_nmi_by_hand():
    a, b = t([0, 0, 1, 1]), t([0, 1, 0, 1])
    # linear windows: the two values sit on the centres of the first and last bins, a hard histogram
    assert nmi(a, a, bins=8, order=1).item() == pytest.approx(2.0)  # H(A) = H(B) = H(A, B) = log 2
    assert nmi(a, b, bins=8, order=1).item() == pytest.approx(1.0)  # H(A, B) = log 4 = H(A) + H(B)
    assert nmi(a, 1 - a, bins=8, order=1).item() == pytest.approx(2.0)  # inverted contrast: still determined
    # cubic windows spread each value over 3 bins, (1/6, 2/3, 1/6): with h their entropy,
    # H(A) = log 2 + h and H(A, A) = log 2 + 2h, so NMI = 2 (log 2 + h) / (log 2 + 2h)
    h = -(2 / 6 * math.log(1 / 6) + 2 / 3 * math.log(2 / 3))
    assert nmi(a, a, bins=8).item() == pytest.approx(2 * (math.log(2) + h) / (math.log(2) + 2 * h), rel=1e-6)
    assert nmi(a, b, bins=8).item() == pytest.approx(1.0, rel=1e-6)


def test_nmi_is_differentiable_and_prefers_aligned_images():
    g = torch.Generator().manual_seed(1)
    a = torch.from_numpy(ndimage.gaussian_filter(torch.rand(24, 24, generator=g).double().numpy(), 2))[None, None]
    b = (torch.roll(a, 1, dims=-1) * 0.9 + 0.05).requires_grad_()
    nmi(a, b, bins=6).sum().backward()
    # a directional derivative by central differences; the direction leaves the two extreme pixels alone, whose
    # values set the histogram's range (a constant of the differentiation, like the bin centres)
    d = torch.randn(b.shape, generator=g, dtype=torch.float64)
    d.view(-1)[[int(b.argmin()), int(b.argmax())]] = 0
    with torch.no_grad():
        numeric = (nmi(a, b + 1e-6 * d, bins=6) - nmi(a, b - 1e-6 * d, bins=6)) / 2e-6
    assert (b.grad * d).sum().item() == pytest.approx(numeric.item(), rel=1e-4)
    shifted = torch.roll(a, 3, dims=-1)
    assert nmi(a, a).item() > nmi(a, shifted).item() > 1.0


def test_warp_coordinates_by_hand():
    m = torch.arange(30, dtype=torch.float64).view(1, 1, 5, 6)
    eye, zero = torch.eye(2, dtype=torch.float64)[None], torch.zeros(1, 2, dtype=torch.float64)
    np.testing.assert_allclose(warp(m, affine_grid(eye, zero, (5, 6), (5, 6))), m, atol=1e-12)  # identity
    shifted = warp(m, affine_grid(eye, torch.tensor([[1.0, 0.0]], dtype=torch.float64), (5, 6), (5, 6)))
    np.testing.assert_allclose(shifted[..., :5], m[..., 1:], atol=1e-12)  # T(p) = p + (1, 0): one column on
    square = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5)
    quarter = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)  # T(x, y) = (-y, x)
    np.testing.assert_allclose(warp(square, affine_grid(quarter, zero, (5, 5), (5, 5)))[0, 0],
                               np.rot90(square[0, 0].numpy(), 1), atol=1e-12)
    big = torch.rand(1, 1, 8, 12, dtype=torch.float64)  # A = 2 I from a 4 x 6 grid into 8 x 12: 2 x 2 means
    half = warp(big, affine_grid(2 * eye, zero, (4, 6), (8, 12)))
    np.testing.assert_allclose(half, torch.nn.functional.avg_pool2d(big, 2), atol=1e-12)


def smooth_image(shape, seed: int, sigma: float = 3.0) -> np.ndarray:
    x = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return (x - x.min()) / (x.max() - x.min())


def moved(fixed: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """moving = fixed o T^-1 for T(p) = A p + t in centred (x, y) pixels, by scipy (independent of the warp):
    moving's (row, col) samples fixed at (row, col)_f = B (row, col)_m + offset, B = A^-1 with the axes swapped."""
    h, w = fixed.shape
    swap = np.array([[0, 1], [1, 0]])
    inv = np.linalg.inv(a)
    b = swap @ inv @ swap
    centre = np.array([h / 2 - 0.5, w / 2 - 0.5])
    offset = centre - b @ centre - swap @ inv @ t
    return ndimage.affine_transform(fixed, b, offset, order=3, mode="nearest")


def simpleitk_affine(fixed: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SimpleITK's affine registration (mean squares, multi-resolution) with each image's origin at its centre, so
    that its transform is T(p) = A p + t in the same coordinates."""
    sitk = pytest.importorskip("SimpleITK")
    images = []
    for x in (fixed, moving):
        im = sitk.GetImageFromArray(x.astype(np.float64))
        im.SetOrigin((-(x.shape[1] / 2 - 0.5), -(x.shape[0] / 2 - 0.5)))
        images.append(im)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-6, numberOfIterations=400,
                                                    gradientMagnitudeTolerance=1e-10)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    found = sitk.AffineTransform(2)  # the identity, centre 0
    method.SetInitialTransform(found, inPlace=True)
    method.Execute(images[0], images[1])
    return np.array(found.GetMatrix()).reshape(2, 2), np.array(found.GetTranslation())


@pytest.mark.parametrize("metric", ["ssd", "nmi"])
def test_a_known_affine_transform_is_recovered_as_simpleitk_recovers_it(metric):
    fixed = smooth_image((56, 64), seed=2)
    a_true, t_true = np.array([[1.06, 0.09], [-0.07, 0.95]]), np.array([3.0, -2.0])
    moving = moved(fixed, a_true, t_true)
    reg = register(torch.from_numpy(fixed)[None, None], torch.from_numpy(moving)[None, None], "affine", metric,
                   levels=3, iterations=150)
    a_ours, t_ours = reg.matrix[0].double().numpy(), reg.translation[0].double().numpy()
    a_itk, t_itk = simpleitk_affine(fixed, moving)
    for a, tr in ((a_ours, t_ours), (a_itk, t_itk)):
        np.testing.assert_allclose(a, a_true, atol=0.01)
        np.testing.assert_allclose(tr, t_true, atol=0.15)
    np.testing.assert_allclose(a_ours, a_itk, atol=0.01)
    np.testing.assert_allclose(t_ours, t_itk, atol=0.2)


def test_a_known_smooth_deformation_is_recovered_to_a_third_of_a_pixel():
    """fixed(p) = moving(p + u*(p)) with u* a sinusoid of amplitude 2.5 and 2 pixels (mean |u*| 2.2 pixels inside
    the image); the dense registration by NCC recovers T(p) - p = u*(p) with a mean error under 0.3 pixels
    (0.13 measured, 0.34 at most) away from an 8-pixel border, and no folding."""
    h = w = 48
    moving = smooth_image((h, w), seed=3, sigma=2.0)
    p = centred_points((h, w), torch.float64)
    u = torch.stack([2.5 * torch.sin(2 * math.pi * p[..., 1] / h), 2.0 * torch.cos(2 * math.pi * p[..., 0] / w)])
    rows, cols = np.mgrid[0:h, 0:w].astype(float)
    fixed = ndimage.map_coordinates(moving, [rows + u[1].numpy(), cols + u[0].numpy()], order=3, mode="nearest")
    reg = register(torch.from_numpy(fixed)[None, None], torch.from_numpy(moving)[None, None], "deformable", "ncc",
                   levels=3, iterations=100, weight=0.05)
    found = (reg.map_points(p.reshape(1, -1, 2).float()) - p.reshape(1, -1, 2).float()).reshape(h, w, 2)
    error = (found.double() - u.permute(1, 2, 0)).norm(dim=-1)[8:-8, 8:-8]
    assert u.norm(dim=0)[8:-8, 8:-8].mean() > 2.0
    assert error.mean() < 0.3
    assert (reg.jacobian() > 0).all()


def test_inverse_consistency_is_zero_for_exact_inverses_and_small_for_two_registrations():
    a = torch.tensor([[[1.1, 0.2], [-0.1, 0.9]]])
    t = torch.tensor([[2.0, -1.0]])
    forward = Registration(a, t, None, (10, 12), (10, 12))
    inv = torch.linalg.inv(a)
    exact = Registration(inv, -(inv @ t[0])[None], None, (10, 12), (10, 12))
    assert inverse_consistency(forward, exact)["max"] < 1e-5
    # twice the forward transform is not its inverse: at p = 0 it lands at A t + t, |(4.2, -3.1)| away
    assert inverse_consistency(forward, forward)["max"] > math.hypot(4.2, -3.1)
    fixed = smooth_image((40, 44), seed=4)
    moving = moved(fixed, np.array([[1.05, 0.05], [0.0, 0.97]]), np.array([2.0, 1.0]))
    f, m = torch.from_numpy(fixed)[None, None], torch.from_numpy(moving)[None, None]
    there, back = register(f, m, "affine", "ncc", iterations=100), register(m, f, "affine", "ncc", iterations=100)
    assert inverse_consistency(there, back)["mean"] < 0.1


def test_regularisers_and_the_jacobian_by_hand():
    p = centred_points((7, 9), torch.float64)
    x = p[..., 0]
    zero = torch.zeros_like(x)
    linear = torch.stack([0.3 * x, zero])[None]  # u_x = 0.3 x
    assert diffusion(linear).item() == pytest.approx(0.09) and bending(linear).item() == pytest.approx(0)
    assert bending(torch.stack([0.2 * x * x, zero])[None]).item() == pytest.approx(4 * 0.04)  # u_xx = 0.4
    assert diffusion(torch.ones(1, 2, 5, 5)).item() == 0  # a translation costs nothing
    field = torch.stack([0.3 * x, -0.2 * p[..., 1]])[None]  # det(I + grad u) = 1.3 * 0.8
    torch.testing.assert_close(jacobian_determinant(field), torch.full((1, 7, 9), 1.04, dtype=torch.float64))
    a = torch.tensor([[[2.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)  # det(A + grad u) = 2.3 * 0.8
    torch.testing.assert_close(jacobian_determinant(field, a), torch.full((1, 7, 9), 1.84, dtype=torch.float64))


def test_register_refuses_images_of_different_channels_and_unknown_names():
    with pytest.raises(ValueError, match="same channels"):
        register(torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="metric 'mse' is not known"):
        register(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), metric="mse")


def test_spatial_transformer_passes_the_model_tester(tmp_path):
    check_model(ModelCase("stn", lambda: SpatialTransformer(2, channels=3), (2, 2, 13, 17), (2, 2, 13, 17)), tmp_path)
    check_model(ModelCase("stn-out", lambda: SpatialTransformer(1, channels=2, out_size=(5, 6)), (3, 1, 20, 20),
                          (3, 1, 5, 6)), tmp_path)
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(SpatialTransformer(1)(x), x, atol=1e-6, rtol=0)  # initialised to the identity


def blobs(centres: torch.Tensor, size: int = 20) -> torch.Tensor:
    """One Gaussian blob per row of ``centres`` (N, 2), (x, y) in normalised coordinates -> (N, 1, size, size)."""
    q = (torch.arange(size) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(q, q, indexing="ij")
    d2 = (xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * 0.15**2))[:, None]


@pytest.mark.slow
def test_spatial_transformer_learns_to_undo_a_translation_it_sees():
    """Blobs at random places in, the blob at the centre as the target: the localisation net must read each
    input's translation. After 300 steps its translations match the true ones within 0.03 (an untrained layer
    is off by the mean |centre|, 0.2)."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    stn = SpatialTransformer(1, channels=4)
    opt = torch.optim.Adam(stn.parameters(), lr=3e-3)
    target = blobs(torch.zeros(1, 2))
    for _ in range(300):
        c = (torch.rand(32, 2, generator=g) - 0.5) * 0.8
        loss = (stn(blobs(c)) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    c = (torch.rand(64, 2, generator=g) - 0.5) * 0.8
    with torch.no_grad():
        error = (stn.theta(blobs(c))[:, :, 2] - c).abs().mean()
    assert c.abs().mean() > 0.15 and error < 0.03


def test_spatial_transformer_learns_a_fixed_affine_transform():
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    c, s = math.cos(0.3), math.sin(0.3)
    theta = torch.tensor([[0.9 * c, -0.9 * s, 0.15], [0.9 * s, 0.9 * c, -0.1]])
    stn = SpatialTransformer(1, channels=2)
    opt = torch.optim.Adam(stn.parameters(), lr=3e-3)
    for _ in range(150):
        x = torch.nn.functional.avg_pool2d(torch.randn(8, 1, 16, 16, generator=g), 5, 1, 2)
        y = warp(x, torch.nn.functional.affine_grid(theta.expand(8, 2, 3), [8, 1, 16, 16], align_corners=False))
        loss = (stn(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (stn.theta(x) - theta).abs().max() < 0.02
