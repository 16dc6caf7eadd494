"""ONNX export of a trained classifier with hard removal inside, and its int8 quantisation.

The graph takes `input_ids`, `attention_mask` and `token_type_ids` (`[batch, length]` int64, as Optimum
exports BERT) and returns `logits` and `lengths` (`[batch, layers]` float: tokens entering each layer,
[CLS] included; every token for a plain model), with dynamic batch and length. The model is traced
with `serving.onnx_graph.onnx_friendly` layers, so the graph has fewer nodes and ONNX Runtime fuses
its layer norms. tf2onnx has no handler for `Erfc`, which TensorFlow 2.21's exact GELU emits;
importing this module registers one (`1 - Erf(x)`) for graphs traced without those layers.

`export_layerwise_onnx` writes the batch-1 pieces of `serving.layerwise.LayerwiseModule` instead (a
folder with one file per piece, run by `serving.onnx_runtime.LayerwiseOnnx`).
"""

import contextlib
import os

from pipeline.atomic import atomic_dir, atomic_path
from serving import onnx_graph
from serving.layerwise import LayerwiseModule
from serving.onnx_runtime import INPUT_NAMES, OUTPUT_SUFFIX

import numpy as np
import tensorflow as tf
import tf2onnx
from tf2onnx import utils
from tf2onnx.handler import tf_op

OPSET = 17
ONNX_SPEC = [tf.TensorSpec([None, None], tf.int64, name=name) for name in INPUT_NAMES]


@tf_op("Erfc")
class Erfc:
    """`erfc(x) = 1 - erf(x)`: ONNX has Erf since opset 9."""

    @classmethod
    def version_9(cls, ctx, node, **kwargs):
        node.type = "Erf"
        dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
        one = ctx.make_const(utils.make_name("erfc_one"), np.array(1, dtype=dtype))
        ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one.output[0], node.output[0]],
                                      name=utils.make_name(node.name))


def ids_function(model):
    """The model on int64 ids as a `tf.function`: `{"logits", "lengths"}`, hard removal when it removes tokens."""

    @tf.function(input_signature=ONNX_SPEC)
    def run(input_ids, attention_mask, token_type_ids):
        inputs = {"input_ids": tf.cast(input_ids, tf.int32), "attention_mask": tf.cast(attention_mask, tf.int32),
                  "token_type_ids": tf.cast(token_type_ids, tf.int32)}
        outputs = model(inputs, lr_mode=model.removes_tokens, training=False)
        if outputs.lengths is None:
            counts = tf.reduce_sum(tf.cast(attention_mask, tf.float32), axis=1, keepdims=True)
            lengths = tf.tile(counts, [1, model.config.num_hidden_layers])
        else:
            lengths = tf.stack(outputs.lengths, axis=1)
        return {"logits": outputs.logits, "lengths": lengths}

    return run


def convert_function(function, path):
    """Writes a `tf.function` with an input signature as an ONNX file (open `onnx_graph.onnx_friendly` on the
    model it calls first, so it is traced with those layers)."""
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=OPSET)
    onnx_graph.save(proto, path)
    return path


def export_onnx(model, path, friendly=True):
    """Writes the model as an ONNX file (see the module docstring); returns the path.

    Args:
        model: A classifier, plain or AdapLeR.
        path: The `.onnx` file (written whole or not at all).
        friendly: Trace with `onnx_graph.onnx_friendly` layers; False gives tf2onnx's graph of the Keras layers
            as they are (the baseline of `benchmarks/serving_latency.py --RUNTIMES=onnxruntime_tf2onnx`).
    """
    layers = onnx_graph.onnx_friendly(model) if friendly else contextlib.nullcontext()
    with atomic_path(path, suffix=".onnx") as temporary, layers:
        convert_function(ids_function(model), temporary)
    return path


def _renamed_outputs(function):
    """`function` with `_out` after each output's name: ONNX names are assigned once, so a block's `hidden` output
    cannot share its `hidden` input's name (`serving.onnx_runtime.LayerwiseOnnx` strips the suffix)."""

    @tf.function(input_signature=function.input_signature)
    def renamed(*args):
        return {f"{key}{OUTPUT_SUFFIX}": value for key, value in function(*args).items()}

    return renamed


def export_layerwise_onnx(model, folder, int8=False):
    """Writes `<folder>/<piece>.onnx` for each piece of `LayerwiseModule(model)` (start, block_i, last).

    Args:
        model: A classifier, plain or AdapLeR.
        folder: The folder to write (replaced whole, so a failed export leaves nothing).
        int8: Write each piece with dynamically quantised int8 weights (`quantize_int8`).

    Returns:
        `folder`.
    """
    with atomic_dir(folder) as temporary, onnx_graph.onnx_friendly(model):
        os.makedirs(temporary)
        for name, function in LayerwiseModule(model).functions().items():
            path = os.path.join(temporary, f"{name}.onnx")
            convert_function(_renamed_outputs(function), path)
            if int8:
                quantize_int8(path, path)
    return folder


def quantize_int8(source, target):
    """Dynamic int8 quantisation of an ONNX file's weights (`onnxruntime.quantization.quantize_dynamic`).

    Per output channel: one scale per column of each weight matrix, not one per matrix, because a per-tensor
    scale moves AdapLeR's keep decisions enough to cost dev accuracy (docs/serving.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target, suffix=".onnx") as temporary:
        quantize_dynamic(source, temporary, weight_type=QuantType.QInt8, per_channel=True)
    return target
