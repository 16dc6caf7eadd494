"""Exporting AdapLeR out of Python: in-graph tokenisation, SavedModel signatures, LiteRT."""

import models  # noqa: F401  (legacy-Keras switch before TensorFlow loads)
