"""Operators against outside references: scikit-image's Radon, PIL's bicubic resize, the explicit matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelwise.data.samples import sample, shepp_logan
from pixelwise.metrics import psnr
from pixelwise.physics import Radon, imresize, radon_matrix, resize_matrix, views

skimage_transform = pytest.importorskip("skimage.transform")


@pytest.mark.parametrize("size, n_views", [(33, 8), (47, 13)])  # odd sizes: skimage's centre n // 2 is ours
def test_radon_matches_skimage_with_circle(size, n_views):
    img = shepp_logan(size).double()
    angles = views(n_views)
    ours = Radon((size, size), angles, circle=True).A(img[None, None])[0, 0].numpy()  # (views, detectors)
    theirs = skimage_transform.radon(img.numpy(), theta=angles.numpy(), circle=True).T
    for v in range(n_views):  # same orientation and scale, view by view
        assert np.corrcoef(ours[v], theirs[v])[0, 1] > 0.995
    assert np.abs(ours - theirs).max() <= 0.05 * np.abs(theirs).max()  # interpolation differences only
    np.testing.assert_allclose(ours.sum(1), theirs.sum(1), rtol=0.02)  # mass per view = image mass


def test_radon_axis_convention_at_zero_degrees_sums_columns():
    img = torch.rand(1, 1, 9, 9, dtype=torch.float64)
    p = Radon((9, 9), [0.0], circle=True).A(img)[0, 0, 0]
    torch.testing.assert_close(p, img[0, 0].sum(0))


@pytest.mark.parametrize("size, n_views, circle, chunk, threads", [
    ((12, 17), 6, False, 4_000_000, 1),
    ((33, 33), 8, True, 4_000_000, 1),  # rays through the corners: spare places sent outside the image
    ((21, 16), 7, False, 300, 2),  # many small chunks, and one image split across two threads
    ((3, 200), 5, False, 4_000_000, 1),  # elongated: padding blocks must stay outside the image
])
def test_radon_is_its_explicit_interpolation_matrix(size, n_views, circle, chunk, threads):
    angles = views(n_views)
    op, mat = Radon(size, angles, circle=circle, chunk=chunk), radon_matrix(size, angles, circle=circle)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for batch in (2, 1):
            x = torch.randn(batch, 1, *size, dtype=torch.float64)
            y = torch.randn(batch, 1, n_views, op.detectors, dtype=torch.float64)
            torch.testing.assert_close(op.A(x).reshape(batch, -1), (mat @ x.reshape(batch, -1).T).T)
            torch.testing.assert_close(op.A_adjoint(y).reshape(batch, -1), (mat.t() @ y.reshape(batch, -1).T).T)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("size, n_views, circle", [((12, 17), 6, False), ((15, 15), 5, True)])
def test_sparse_radon_is_the_same_operator(size, n_views, circle):
    dense, sparse = Radon(size, views(n_views), circle=circle), Radon(size, views(n_views), circle=circle, sparse=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, n_views, dense.detectors, generator=g, dtype=torch.float64)
    torch.testing.assert_close(sparse.A(x), dense.A(x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(sparse.A_adjoint(y), dense.A_adjoint(y), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(sparse.naive(y), dense.naive(y), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(sparse.A(x.float()), dense.A(x.float()), rtol=1e-5, atol=1e-5)


def test_fbp_reconstructs_the_phantom_as_well_as_skimage():
    size, angles = 64, views(90)
    img = shepp_logan(size).double()
    op = Radon((size, size), angles)
    ours = op.fbp(op.A(img[None, None]))[0, 0].numpy()
    sino = skimage_transform.radon(img.numpy(), theta=angles.numpy(), circle=False)
    theirs = skimage_transform.iradon(sino, theta=angles.numpy(), circle=False, filter_name="ramp")
    ours_psnr, theirs_psnr = psnr(ours, img, 1.0), psnr(theirs, img, 1.0)
    assert ours_psnr > 20.0
    assert ours_psnr > theirs_psnr - 1.0
    assert float(ours.mean()) == pytest.approx(float(img.mean()), rel=0.05)  # the ramp filter keeps the scale


@pytest.mark.parametrize("in_len, out_len", [(48, 16), (63, 21), (20, 60), (9, 3)])
def test_resize_matrix_interior_matches_pil_bicubic(in_len, out_len):
    from PIL import Image

    x = np.random.default_rng(0).random((in_len, in_len)).astype(np.float32)
    ours = imresize(torch.from_numpy(x).double()[None, None], scale=out_len / in_len)[0, 0].numpy()
    theirs = np.asarray(Image.fromarray(x, mode="F").resize((out_len, out_len), Image.BICUBIC))
    # PIL renormalises the weights at the border where MATLAB mirrors: compare the interior
    border = int(np.ceil(2 * max(1.0, out_len / in_len))) + 1
    np.testing.assert_allclose(ours[border:-border, border:-border], theirs[border:-border, border:-border],
                               atol=1e-5)


@pytest.mark.parametrize("in_len, out_len, scale", [(10, 5, None), (11, 4, 1 / 3), (7, 21, None)])
def test_resize_matrix_rows_sum_to_one(in_len, out_len, scale):
    m = resize_matrix(in_len, out_len, scale)
    assert m.shape == (out_len, in_len)
    torch.testing.assert_close(m.sum(1), torch.ones(out_len, dtype=torch.float64))


def test_bicubic_round_trip_on_a_photograph_is_close():
    x = sample("camera", size=96)[None].double()
    small = imresize(x, scale=1 / 2)
    back = imresize(small, scale=2)
    assert psnr(back[0], x[0], 1.0) > 25.0


def test_shepp_logan_matches_skimage_phantom():
    from skimage.data import shepp_logan_phantom

    theirs = shepp_logan_phantom()  # 400 x 400, modified intensities
    ours = shepp_logan(theirs.shape[0]).numpy()
    assert ours.min() >= 0 and ours.max() == pytest.approx(1.0)
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.95
    assert abs(float(ours.mean()) - float(theirs.mean())) < 0.01
