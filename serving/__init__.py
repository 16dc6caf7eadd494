"""Exporting AdapLeR out of Python: in-graph tokenisation, SavedModel signatures, LiteRT."""

import models  # noqa: F401  (the legacy-Keras switch, before any module of this package imports TensorFlow)
