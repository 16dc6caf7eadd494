"""What the staged entry points share: task directories, data batches, evaluation, flags."""

import models  # noqa: F401  (legacy-Keras switch before TensorFlow loads)
