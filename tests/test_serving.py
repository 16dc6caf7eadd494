"""Serving exports: in-graph tokenisation, the SavedModel signatures and the LiteRT file."""

import json
import os
import subprocess
import sys

from models.backbones import load_tokenizer, resolve_backbone
from models.modeling_tf_bert import TFBertForSequenceClassification
from serving.litert import LiteRTModel, convert
from serving.module import ServingModule, save
from serving.tokenization import InGraphTokenizer
from tasks.registry import get_task, load_split

import numpy as np
import pytest
import tensorflow as tf

BACKBONE = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def backbone_tokenizer():
    return load_tokenizer(BACKBONE)


def _assert_same_encoding(backbone_tokenizer, max_length, first, second=None):
    graph = InGraphTokenizer.from_backbone_tokenizer(backbone_tokenizer, max_length)
    got = graph(tf.constant(first), tf.constant(second) if second else None)
    want = backbone_tokenizer(first, second, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(got[key].numpy(), want[key], err_msg=key)


@pytest.mark.parametrize("task,max_length", [("sst2", 64), ("mrpc", 128), ("mrpc", 32)])
def test_in_graph_tokenisation_equals_the_backbone_tokenizer_on_every_dev_example(
        data_dir, backbone_tokenizer, task, max_length):
    examples = load_split(get_task(task), "validation", data_dir)
    second = [e.text_b for e in examples] if examples[0].text_b else None
    _assert_same_encoding(backbone_tokenizer, max_length, [e.text_a for e in examples], second)


def test_in_graph_tokenisation_of_awkward_text(backbone_tokenizer):
    texts = ["", "Café DÉJÀ vu — naïve", "tab\tnew\nline\x00\u200b end", "数据 µGuru 3.5%", "word " * 300]
    _assert_same_encoding(backbone_tokenizer, 64, texts)
    graph = InGraphTokenizer.from_backbone_tokenizer(backbone_tokenizer, 64)
    ids = graph(tf.constant(texts))["input_ids"].numpy()
    assert list(ids[0][:2]) == [101, 102] and ids.shape == (5, 64)  # empty: [CLS] [SEP]; long: truncated


def _adapler_backbone(num_labels, seed=0):
    """MiniLM with sharp random CP heads and thresholds that remove tokens."""
    tf.random.set_seed(seed)
    model = TFBertForSequenceClassification.from_pretrained(resolve_backbone(BACKBONE), num_labels=num_labels)
    model.to_AdapLeR()
    rng = np.random.RandomState(seed)
    for predictor in model.bert.encoder.contribution_predictors:
        predictor.head.kernel.assign(rng.normal(0, 3.0, size=predictor.head.kernel.shape).astype("float32"))
    model.bert.encoder.ETA.assign([0.6, 0.8, 0.9, 1.0, 1.0, 1.0])
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory, backbone_tokenizer):
    """An AdapLeR SST-2 classifier exported as SavedModel and LiteRT, with the in-process model."""
    folder = tmp_path_factory.mktemp("export")
    model = _adapler_backbone(num_labels=2)
    module = ServingModule(model, InGraphTokenizer.from_backbone_tokenizer(backbone_tokenizer, 64), get_task("sst2"),
                           pair=False)
    saved = save(module, str(folder / "saved_model"))
    select_ops = convert(saved, str(folder / "model.tflite"))
    return model, saved, str(folder / "model.tflite"), select_ops


SENTENCES = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate clichés from start to "
             "finish , and the script assumes that not only would subtlety be lost on the target audience , but "
             "that it 's also too stupid to realize that they 've already seen this exact same movie a hundred times",
             "bad .", "it 's a charming and often affecting journey ."]


def _in_process(model, tokenizer, texts):
    encoded = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="tf")
    outputs = model({k: tf.cast(v, tf.int32) for k, v in encoded.items()}, lr_mode=True)
    return outputs.logits.numpy(), np.stack([n.numpy() for n in outputs.lengths], axis=1).astype(int)


@pytest.mark.slow
@pytest.mark.parametrize("texts", [SENTENCES, SENTENCES[1:2]], ids=["padded-batch", "batch-1"])
def test_loaded_saved_model_equals_the_model_in_process(exported, backbone_tokenizer, texts):
    model, saved, _, _ = exported
    logits, lengths = _in_process(model, backbone_tokenizer, texts)
    assert lengths[:, -1].max() < lengths[:, 0].max()  # tokens are removed
    result = tf.saved_model.load(saved).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(result["logits"].numpy(), logits, atol=1e-5)
    np.testing.assert_array_equal(result["lengths"].numpy(), lengths)
    np.testing.assert_array_equal(result["label"].numpy(), logits.argmax(-1))
    assert [v.decode() for v in result["label_name"].numpy()] == [("0", "1")[i] for i in logits.argmax(-1)]
    np.testing.assert_allclose(result["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_saved_model_runs_hard_removal_in_a_fresh_process(exported, backbone_tokenizer):
    model, saved, _, _ = exported
    logits, lengths = _in_process(model, backbone_tokenizer, SENTENCES)
    # tensorflow_text registers the tokenizer ops, as for any SavedModel that uses them.
    script = ("import json, sys, tensorflow as tf, tensorflow_text\n"
              "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
              "out = f(text=tf.constant(json.loads(sys.argv[2])))\n"
              "print(json.dumps({'logits': out['logits'].numpy().tolist(), 'lengths': out['lengths'].numpy().tolist()}))")
    result = subprocess.run([sys.executable, "-c", script, saved, json.dumps(SENTENCES)], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(loaded["logits"], logits, atol=1e-5)
    np.testing.assert_array_equal(loaded["lengths"], lengths)


@pytest.mark.slow
def test_litert_file_agrees_with_builtin_ops_only(exported, backbone_tokenizer):
    model, _, tflite, select_ops = exported
    assert select_ops == []
    litert = LiteRTModel(tflite)
    for texts in (SENTENCES, SENTENCES[2:3]):
        logits, lengths = _in_process(model, backbone_tokenizer, texts)
        encoded = backbone_tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="np")
        result = litert(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        np.testing.assert_allclose(result["logits"], logits, atol=1e-4)
        np.testing.assert_array_equal(result["lengths"], lengths)


@pytest.mark.slow
def test_ids_signature_and_bad_inputs(exported):
    _, saved, _, _ = exported
    signatures = tf.saved_model.load(saved).signatures
    ids = tf.constant([[101, 2204, 3185, 102]], tf.int32)
    out = signatures["serving_ids"](input_ids=ids, attention_mask=tf.ones_like(ids), token_type_ids=tf.zeros_like(ids))
    assert out["lengths"].shape == (1, 6) and out["lengths"].numpy()[0, 0] <= 4
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
        signatures["serving_default"](text=tf.constant([1, 2]))


@pytest.mark.slow
@pytest.mark.parametrize("call,message", [
    (lambda c: c([1, 2]), "text must be a \\[batch\\] string tensor; got int32"),
    (lambda c: c("one string"), "text must be a list of strings"),
    (lambda c: c(["a"], ["b"]), "text_pair given, but this model classifies single texts"),
])
def test_the_client_names_the_bad_input(exported, call, message):
    from serving.client import load

    classifier = load(exported[1])
    with pytest.raises(ValueError, match=message):
        call(classifier)
    assert classifier(["fine ."])["label"].shape == (1,)


@pytest.mark.slow
def test_plain_pair_model_export_needs_both_texts(tmp_path, backbone_tokenizer):
    tf.random.set_seed(1)
    model = TFBertForSequenceClassification.from_pretrained(resolve_backbone(BACKBONE), num_labels=2)
    module = ServingModule(model, InGraphTokenizer.from_backbone_tokenizer(backbone_tokenizer, 128), get_task("mrpc"),
                           pair=True)
    signature = tf.saved_model.load(save(module, str(tmp_path / "mrpc"))).signatures["serving_default"]
    first, second = ["He said hello .", "It rains ."], ["He greeted us .", "The sun shines brightly today ."]
    out = signature(text=tf.constant(first), text_pair=tf.constant(second))
    encoded = backbone_tokenizer(first, second, truncation=True, max_length=128, padding=True, return_tensors="tf")
    want = model({k: tf.cast(v, tf.int32) for k, v in encoded.items()}).logits.numpy()
    np.testing.assert_allclose(out["logits"].numpy(), want, atol=1e-5)
    np.testing.assert_array_equal(out["lengths"].numpy(), np.repeat(encoded["attention_mask"].numpy().sum(1)[:, None], 6, 1))
    with pytest.raises(TypeError, match="text_pair"):
        signature(text=tf.constant(first))
    from serving.client import load

    with pytest.raises(ValueError, match="text_pair is missing"):
        load(str(tmp_path / "mrpc"))(first)


def _layerwise_runner(runtime, model, folder):
    if runtime == "litert":
        from serving.layerwise import LayerwiseLiteRT, export_layerwise

        return LayerwiseLiteRT(export_layerwise(model, str(folder / "layers.tflite")))
    from serving.onnx_export import export_layerwise_onnx
    from serving.onnx_runtime import LayerwiseOnnx

    return LayerwiseOnnx(export_layerwise_onnx(model, str(folder / "pieces"), int8=runtime == "onnx_int8"))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["litert", "onnx", "onnx_int8"])
@pytest.mark.parametrize("adapler", [True, False])
def test_the_layerwise_pieces_equal_the_model_at_batch_1(tmp_path, adapler, runtime):
    from tests.tiny import padded_batch, row, tiny_model

    model = tiny_model(seed=4, num_layers=3, num_labels=2, adapler=adapler)
    runner = _layerwise_runner(runtime, model, tmp_path)
    lengths = [9, 14, 5, 20]
    batch = padded_batch(lengths, seed=2)
    removed = False
    for index, length in enumerate(lengths):
        inputs = row(batch, index, length)
        expected = model(inputs, lr_mode=adapler)
        got = runner(inputs["input_ids"].numpy(), inputs["token_type_ids"].numpy())
        # int8 weights move the logits; on this tiny model they move no keep decision.
        np.testing.assert_allclose(got["logits"], expected.logits.numpy(), atol=5e-2 if runtime == "onnx_int8" else 1e-4)
        if adapler:
            np.testing.assert_array_equal(got["lengths"], np.stack([n.numpy() for n in expected.lengths], axis=1))
            removed |= got["lengths"][0, -1] < length - 1
        else:
            assert got["lengths"].size == 0
    assert removed or not adapler, "the comparison needs examples that lose tokens"
