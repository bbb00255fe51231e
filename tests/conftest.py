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
