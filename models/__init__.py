"""AdapLeR layers and models on top of transformers' TensorFlow BERT.

transformers' TF classes are written for Keras 2 (tf-keras), and TensorFlow reads which Keras
`tf.keras` means when it is first imported. Importing this package (every other package of the
project imports it first) sets `TF_USE_LEGACY_KERAS=1`, and refuses to go on when TensorFlow was
imported before without it.
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if os.environ["TF_USE_LEGACY_KERAS"] not in ("1", "true", "True"):
    raise ImportError(f"TF_USE_LEGACY_KERAS={os.environ['TF_USE_LEGACY_KERAS']}: transformers' TensorFlow models "
                      "need Keras 2; unset it or set it to 1.")
if "tensorflow" in sys.modules and not getattr(sys.modules["tensorflow"], "_tf_uses_legacy_keras", True):
    raise ImportError("TensorFlow was imported before the AdapLeR packages without TF_USE_LEGACY_KERAS=1, so tf.keras "
                      "is Keras 3: import models (or pipeline, serving, tasks, analysis) before tensorflow, or set "
                      "TF_USE_LEGACY_KERAS=1 in the environment.")
