"""AdapLeR layers and models on top of transformers' TensorFlow BERT.

transformers' TF classes are written for Keras 2, so the legacy Keras switch has to be set
before TensorFlow is first imported; importing this package does that.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
