"""Task loaders (local upstream files or tensorflow-datasets) and metrics."""

import models  # noqa: F401  (the legacy-Keras switch, before any module of this package imports TensorFlow)
