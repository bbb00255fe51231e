"""Bundled photographs, the phantom, and image/folder loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelwise.data.io import write_image
from pixelwise.data.samples import load_folder, load_image, sample, sample_names, shepp_logan, to_uint8
from pixelwise.errors import PixelwiseError


@pytest.mark.parametrize("name, grey, size, shape", [
    ("camera", None, None, (1, 512, 512)),
    ("camera", False, 65, (3, 65, 65)),
    ("astronaut", None, None, (3, 256, 256)),
    ("astronaut", True, 33, (1, 33, 33)),
    ("shepp_logan", None, 48, (1, 48, 48)),
])
def test_samples_shapes_and_range(name, grey, size, shape):
    img = sample(name, grey=grey, size=size)
    assert tuple(img.shape) == shape and img.dtype == torch.float32
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert float(img.std()) > 0.05  # a real picture, not a blank


def test_sample_names_and_unknown_sample():
    assert {"camera", "astronaut", "shepp_logan"} <= set(sample_names())
    with pytest.raises(PixelwiseError, match="choose one of"):
        sample("lena")
    with pytest.raises(PixelwiseError):
        sample("camera", size=600)


def test_phantom_values_and_symmetry():
    p = shepp_logan(128)
    assert set(np.unique(np.round(p.double().numpy(), 4)).tolist()) <= {0.0, 0.1, 0.2, 0.3, 0.4, 1.0}
    assert float(p[:, 64:].sum()) != pytest.approx(float(p[:, :64].sum()), rel=1e-6)  # tilted ventricles
    with pytest.raises(PixelwiseError):
        shepp_logan(1)


def test_load_image_and_folder_round_trip(tmp_path):
    img = sample("astronaut", size=20)
    write_image(tmp_path / "b.png", to_uint8(img))
    write_image(tmp_path / "a.png", to_uint8(img[:1]))
    (tmp_path / "notes.txt").write_text("not an image")
    torch.testing.assert_close(load_image(tmp_path / "b.png"), img, atol=1 / 255, rtol=0)
    assert load_image(tmp_path / "b.png", grey=True).shape == (1, 20, 20)
    items = load_folder(tmp_path)
    assert [name for name, _ in items] == ["a", "b"]
    with pytest.raises(PixelwiseError):
        load_folder(tmp_path / "missing")
