"""LiteRT (`.tflite`) conversion of the `serving_ids` signature, and running it.

Hard removal converts to builtin LiteRT ops only (the batched gather of survivors and dynamic shapes included),
so the file needs no TensorFlow kernels at run time. The `ai-edge-litert` interpreter runs it;
its signature runner resizes the inputs to each call's `[batch, length]`.
"""

import re

from pipeline.atomic import atomic_path

import numpy as np
import tensorflow as tf


class ConversionError(RuntimeError):
    """The model has ops without a LiteRT builtin kernel."""


def convert(saved_model_dir, output, allow_select_ops=False, signature_keys=("serving_ids",)):
    """Converts SavedModel signatures (by default `serving_ids`) to a `.tflite` file.

    Args:
        saved_model_dir: A SavedModel written by `serving.module.save`.
        output: The `.tflite` path (written atomically).
        allow_select_ops: Fall back to TensorFlow kernels (SELECT_TF_OPS) for ops LiteRT lacks.
        signature_keys: The signatures to convert.

    Returns:
        The list of ops that needed SELECT_TF_OPS (empty when builtins sufficed).

    Raises:
        ConversionError: naming the ops, when builtins do not suffice and select ops are not allowed.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(signature_keys))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    select_ops = []
    try:
        flat = converter.convert()
    except Exception as error:  # the converter raises its own ConverterError subclasses
        select_ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(error))))
        if not allow_select_ops:
            raise ConversionError(f"ops without a LiteRT builtin: {', '.join(select_ops) or str(error)[-500:]}; "
                                  "allow SELECT_TF_OPS to convert anyway.") from None
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        flat = converter.convert()
    with atomic_path(output, suffix=".tflite") as temporary:
        with open(temporary, "wb") as handle:
            handle.write(flat)
    return select_ops


def interpreter(path, num_threads=2):
    """An `ai-edge-litert` interpreter of a `.tflite` file (XNNPACK by default)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=num_threads)


class LiteRTModel:
    """A `.tflite` file of `serving_ids`, called like the SavedModel signature with numpy arrays.

    Args:
        path: The `.tflite` file.
        num_threads: Interpreter threads.
    """

    def __init__(self, path, num_threads=2):
        self.interpreter = interpreter(path, num_threads)
        self.runner = self.interpreter.get_signature_runner("serving_ids")

    def __call__(self, input_ids, attention_mask, token_type_ids):
        """Dict of numpy outputs (`logits`, `lengths`, ...) for `[batch, length]` int inputs."""
        return self.runner(input_ids=np.asarray(input_ids, np.int32), attention_mask=np.asarray(attention_mask, np.int32),
                           token_type_ids=np.asarray(token_type_ids, np.int32))
