"""Export-time forms of Keras layers that give tf2onnx a smaller graph ONNX Runtime can fuse.

tf2onnx converts the TensorFlow graph op for op, and three layers come out in forms ONNX Runtime's
load-time optimiser neither shrinks nor fuses:

- Keras `Dense` on a `[batch, length, d]` input runs `tf.tensordot`: a reshape to 2-D, the matmul and
  a reshape back, each with its shape computed at run time (Shape, Gather, Concat, ...). ONNX's MatMul
  broadcasts over the leading axes, so `matmul(x, kernel) + bias` is one node and an Add.
- Keras `LayerNormalization` runs a fused batch norm that tf2onnx spells as pooling, reciprocals and
  products. Written as mean, centring, mean square, `sqrt` and division, it is the pattern ONNX
  Runtime fuses into one LayerNormalization node, once the means are ReduceMean (`reduce_means`).
- TensorFlow's exact GELU is `0.5 x erfc(-x / sqrt 2)`; as `0.5 x (1 + erf(x / sqrt 2))`, the same
  function, it needs no `Erfc` handler and, once its division is restored (`erf_divisions`), is the
  pattern ONNX Runtime fuses into Gelu, and with the Dense bias before it into BiasGelu.

Every node ONNX Runtime runs costs a few microseconds whatever its size, which is much of a layer's
time at short lengths and of AdapLeR's once it has removed most tokens. `onnx_friendly(model)`
swaps the three forms in while the export traces the model and puts the layers back afterwards.
"""

import contextlib
import math
import types

import numpy as np
import onnx
import tensorflow as tf
from onnx import helper, numpy_helper, shape_inference
from tensorflow import keras


def erf_gelu(x):
    """Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (as Google's BERT wrote it)."""
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def _dense_call(self, inputs):
    outputs = tf.matmul(inputs, self.kernel)
    if self.use_bias:
        outputs = outputs + self.bias
    return self.activation(outputs) if self.activation is not None else outputs


def _layer_norm_call(self, inputs):
    if list(self.axis) != [inputs.shape.rank - 1]:
        raise ValueError(f"onnx_friendly covers LayerNormalization over the last axis; {self.name} normalises "
                         f"axes {self.axis}.")
    mean = tf.reduce_mean(inputs, axis=-1, keepdims=True)
    centred = inputs - mean
    variance = tf.reduce_mean(tf.pow(centred, 2.0), axis=-1, keepdims=True)
    outputs = centred / tf.sqrt(variance + self.epsilon)
    if self.scale:
        outputs = outputs * self.gamma
    return outputs + self.beta if self.center else outputs


_GELU_ATTRIBUTES = ("activation", "intermediate_act_fn")  # Dense, our CP heads; transformers' BERT intermediate


@contextlib.contextmanager
def onnx_friendly(model):
    """While open, the model's `Dense`, `LayerNormalization` and exact-GELU activations run in the forms of
    the module docstring: the same functions, so outputs agree to float rounding. Trace the export inside."""
    restore = []
    try:
        for module in model.submodules:
            if isinstance(module, keras.layers.Dense):
                module.call = types.MethodType(_dense_call, module)
                restore.append((module, "call", None))
            elif isinstance(module, keras.layers.LayerNormalization):
                module.call = types.MethodType(_layer_norm_call, module)
                restore.append((module, "call", None))
            for name in _GELU_ATTRIBUTES:
                if getattr(module, name, None) is keras.activations.gelu:
                    restore.append((module, name, keras.activations.gelu))
                    setattr(module, name, erf_gelu)
        yield model
    finally:
        for module, name, value in reversed(restore):
            if value is None:
                del module.__dict__[name]  # the class's method again
            else:
                setattr(module, name, value)


def reduce_means(model_proto):
    """Turns tf2onnx's GlobalAveragePool over the last axis of a rank-3 tensor back into ReduceMean.

    tf2onnx writes a mean over axis 2 of `[batch, length, d]` as GlobalAveragePool (it pools every axis
    after the second), which ONNX Runtime's LayerNormalization fusion does not look for.

    Args:
        model_proto: An `onnx.ModelProto` of opset 17 or less (ReduceMean's axes are an attribute), changed
            in place.

    Returns:
        The number of nodes changed.
    """
    inferred = shape_inference.infer_shapes(model_proto).graph
    ranks = {value.name: len(value.type.tensor_type.shape.dim)
             for value in list(inferred.value_info) + list(inferred.input)
             if value.type.tensor_type.HasField("shape")}
    changed = 0
    for node in model_proto.graph.node:
        if node.op_type == "GlobalAveragePool" and ranks.get(node.input[0]) == 3:
            node.op_type = "ReduceMean"
            node.attribute.extend([helper.make_attribute("axes", [-1]), helper.make_attribute("keepdims", 1)])
            changed += 1
    return changed


def erf_divisions(model_proto):
    """Turns `x * (1 / sqrt 2)` feeding an Erf back into `x / sqrt 2`.

    TensorFlow's constant folding, which tf2onnx runs, rewrites a division by a constant as a product with
    its reciprocal. ONNX Runtime's Gelu fusion looks for the division, so without it every GELU stays five
    element-wise passes over the widest activation.

    Args:
        model_proto: An `onnx.ModelProto`, changed in place.

    Returns:
        The number of nodes changed.
    """
    # Scalars only: converting every weight matrix to look for a factor would copy the whole model.
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in model_proto.graph.initializer
                 if math.prod(tensor.dims) == 1}
    producers = {output: node for node in model_proto.graph.node for output in node.output}
    changed, replaced = 0, set()
    for erf in [node for node in model_proto.graph.node if node.op_type == "Erf"]:
        product = producers.get(erf.input[0])
        if product is None or product.op_type != "Mul":
            continue
        factors = [name for name in product.input
                   if name in constants and np.isclose(constants[name].item(), 1 / math.sqrt(2))]
        if len(factors) != 1:
            continue
        (x,) = [name for name in product.input if name != factors[0]]
        divisor = f"{product.name}/sqrt2"
        model_proto.graph.initializer.append(
            numpy_helper.from_array(np.array(math.sqrt(2), constants[factors[0]].dtype), divisor))
        product.op_type = "Div"
        product.input[:] = [x, divisor]
        replaced.add(factors[0])
        changed += 1
    # Drop the reciprocals no node reads any more (ONNX Runtime warns about each unused initializer).
    unread = replaced - {name for node in model_proto.graph.node for name in node.input}
    for tensor in [tensor for tensor in model_proto.graph.initializer if tensor.name in unread]:
        model_proto.graph.initializer.remove(tensor)
    return changed


def save(model_proto, path):
    """`reduce_means` and `erf_divisions`, then the file."""
    reduce_means(model_proto)
    erf_divisions(model_proto)
    onnx.save(model_proto, path)
