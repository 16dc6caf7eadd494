"""What the results say: rationale agreement, significance, wall-clock timing, profiled FLOPs, reports and plots."""

import models  # noqa: F401  (the legacy-Keras switch, before any module of this package imports TensorFlow)
