"""serving.onnx_graph: the export-time layer forms and the ReduceMean pass."""

import collections

from serving.onnx_export import ONNX_SPEC, ids_function
from serving.onnx_graph import erf_divisions, erf_gelu, onnx_friendly, reduce_means
from serving.onnx_runtime import cpu_session
from tests.tiny import padded_batch, tiny_model

import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf
import tf2onnx
from onnx import TensorProto, helper, numpy_helper
from tensorflow import keras


def _changed_attributes(model):
    return [(module.name, name) for module in model.submodules for name in ("call", "activation",
                                                                             "intermediate_act_fn")
            if name in module.__dict__ and (name == "call" or module.__dict__[name] is erf_gelu)]


def test_erf_gelu_is_tensorflows_exact_gelu():
    x = tf.constant(np.linspace(-6, 6, 101), tf.float32)
    np.testing.assert_allclose(erf_gelu(x), keras.activations.gelu(x, approximate=False), atol=1e-6)


@pytest.mark.parametrize("adapler", [True, False])
def test_the_friendly_layers_give_the_models_outputs(adapler):
    model = tiny_model(seed=3, adapler=adapler)
    if adapler:
        model.bert.encoder.ETA.assign([0.9, 0.9])
    batch = padded_batch([12, 5, 9], seed=4)
    expected = model(batch, lr_mode=adapler, training=False)
    with onnx_friendly(model):
        assert _changed_attributes(model)
        got = model(batch, lr_mode=adapler, training=False)
    np.testing.assert_allclose(got.logits, expected.logits, atol=1e-5)
    if adapler:
        np.testing.assert_array_equal(np.stack(got.lengths), np.stack(expected.lengths))


def test_the_layers_are_restored_after_the_block_even_when_it_raises():
    model = tiny_model(seed=3)
    with pytest.raises(RuntimeError, match="inside"), onnx_friendly(model):
        raise RuntimeError("inside")
    assert _changed_attributes(model) == []
    assert model.bert.encoder.layer[0].intermediate.intermediate_act_fn is keras.activations.gelu


def test_a_layer_norm_over_another_axis_is_refused():
    layer = keras.layers.LayerNormalization(axis=1, name="across")
    layer.build([None, 4, 3])
    with onnx_friendly(keras.Sequential([layer])), pytest.raises(ValueError, match="across normalises axes"):
        layer(tf.zeros([2, 4, 3]))


def _ort_ops(proto, tmp_path, name):
    """Op counts of the graph ONNX Runtime runs after its load-time optimisations."""
    source, optimised = str(tmp_path / f"{name}.onnx"), str(tmp_path / f"{name}.opt.onnx")
    onnx.save(proto, source)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = optimised
    cpu_session(source, threads=None, options=options)
    return collections.Counter(node.op_type for node in onnx.load(optimised).graph.node)


@pytest.mark.slow
def test_onnx_runtime_fuses_every_layer_norm_of_the_friendly_graph_into_fewer_nodes(tmp_path):
    model = tiny_model(seed=3, adapler=False)
    layer_norms = sum(isinstance(m, keras.layers.LayerNormalization) for m in model.submodules)
    plain, _ = tf2onnx.convert.from_function(ids_function(model), input_signature=ONNX_SPEC, opset=17)
    with onnx_friendly(model):
        friendly, _ = tf2onnx.convert.from_function(ids_function(model), input_signature=ONNX_SPEC, opset=17)
    assert reduce_means(friendly) == 2 * layer_norms
    assert erf_divisions(friendly) == model.config.num_hidden_layers
    plain_ops, friendly_ops = _ort_ops(plain, tmp_path, "plain"), _ort_ops(friendly, tmp_path, "friendly")
    assert plain_ops["LayerNormalization"] == 0
    assert friendly_ops["LayerNormalization"] == layer_norms == 5
    assert friendly_ops["BiasGelu"] == model.config.num_hidden_layers and friendly_ops["Erf"] == 0
    assert sum(friendly_ops.values()) < 0.8 * sum(plain_ops.values())


def _pool_graph(rank):
    shape = [2, 3, 4, 5][:rank]
    node = helper.make_node("GlobalAveragePool", ["x"], ["y"])
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("rank, changed", [(3, 1), (4, 0)])
def test_reduce_means_turns_only_a_rank_3_pool_into_the_same_mean(rank, changed):
    proto = _pool_graph(rank)
    x = np.random.RandomState(0).normal(size=[2, 3, 4, 5][:rank]).astype(np.float32)
    before = cpu_session(proto.SerializeToString(), threads=None).run(None, {"x": x})[0]
    assert reduce_means(proto) == changed
    assert proto.graph.node[0].op_type == ("ReduceMean" if changed else "GlobalAveragePool")
    after = cpu_session(proto.SerializeToString(), threads=None).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, atol=1e-6)
    np.testing.assert_allclose(after, x.mean(axis=tuple(range(2, rank)), keepdims=True), atol=1e-6)


def _gelu_graph(factor):
    """`0.5 x (1 + erf(x * factor))` as TensorFlow's constant folding leaves erf_gelu (factor 1/sqrt 2)."""
    constants = [numpy_helper.from_array(np.array(value, np.float32), name)
                 for name, value in (("factor", factor), ("one", 1.0), ("half", 0.5))]
    nodes = [helper.make_node("Mul", ["x", "factor"], ["scaled"], name="scaled"),
             helper.make_node("Erf", ["scaled"], ["erf"]), helper.make_node("Add", ["erf", "one"], ["shifted"]),
             helper.make_node("Mul", ["x", "half"], ["halved"]), helper.make_node("Mul", ["halved", "shifted"], ["y"])]
    graph = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("factor, changed", [(1 / np.sqrt(2), 1), (0.5, 0)])
def test_erf_divisions_restores_the_division_onnx_runtime_fuses_into_gelu(tmp_path, factor, changed):
    proto = _gelu_graph(factor)
    x = np.linspace(-4, 4, 16, dtype=np.float32).reshape(2, 8)
    before = cpu_session(proto.SerializeToString(), threads=None).run(None, {"x": x})[0]
    assert erf_divisions(proto) == changed
    assert ("factor" in {tensor.name for tensor in proto.graph.initializer}) == (not changed)
    after = cpu_session(proto.SerializeToString(), threads=None).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert _ort_ops(proto, tmp_path, "gelu")["Gelu"] == changed
