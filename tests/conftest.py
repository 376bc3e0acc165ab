"""Shared fixtures: tiny colorizers that build in seconds (helpers: tests/helpers.py)."""

import keras
import pytest

from tests.helpers import TINY_BACKBONE, TINY_SIZES


@pytest.fixture
def tiny_colorizer():
    from deepkoala import Colorizer

    keras.utils.set_random_seed(0)
    return Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)


@pytest.fixture
def saved_tiny_model(tmp_path, tiny_colorizer):
    path = tmp_path / "tiny.keras"
    tiny_colorizer.save(path)
    return path
