"""What the scripts share: flags, recipes, the command line, loading, batching, tf.distribute, the epoch loop,
resumable runs, child processes, evaluation, the keep rule, task directories and the GLUE submission."""

import models  # noqa: F401  (the legacy-Keras switch, before any module of this package imports TensorFlow)
