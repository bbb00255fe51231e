"""Shared fixtures: small generated data folders (tests never read the development data)."""

from __future__ import annotations

import pytest

from pixelwise.data.synthetic import write_polyps_folder


@pytest.fixture(scope="session")
def polyp_folder(tmp_path_factory):
    """48 generated 32x32 cases with png images and png masks."""
    return write_polyps_folder(tmp_path_factory.mktemp("polyps") / "data", n=48, size=32, seed=3)
