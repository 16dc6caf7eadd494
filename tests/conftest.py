"""Shared test set-up: the project's packages before TensorFlow, and the data folder."""

import os

import models  # noqa: F401  (the legacy-Keras switch, before any test module imports TensorFlow)
from pipeline.paths import REPO

import pytest

DATA_DIR = os.environ.get("ADAPLER_DATA_DIR", os.path.join(REPO, "..", "shared", "data"))


@pytest.fixture(scope="session")
def data_dir():
    """`../shared/data` (or `$ADAPLER_DATA_DIR`); the suite needs it, so its absence is an error."""
    if not os.path.isdir(os.path.join(DATA_DIR, "glue")):
        raise FileNotFoundError(f"Test data not found at {DATA_DIR}: set ADAPLER_DATA_DIR to the shared data folder.")
    return DATA_DIR
