"""Shared test set-up: legacy Keras before TensorFlow, the repo on sys.path, the data folder."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import models  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import pytest  # noqa: E402

DATA_DIR = os.environ.get("ADAPLER_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))


@pytest.fixture(scope="session")
def data_dir():
    """`../shared/data` (or `$ADAPLER_DATA_DIR`); the suite needs it, so its absence is an error."""
    if not os.path.isdir(os.path.join(DATA_DIR, "glue")):
        raise FileNotFoundError(f"Test data not found at {DATA_DIR}: set ADAPLER_DATA_DIR to the shared data folder.")
    return DATA_DIR
