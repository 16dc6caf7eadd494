"""The ONNX export: the file run by ONNX Runtime in a process without TensorFlow equals the model in process
(hard removal, batch 1 and padded batches, tiny config and the embedded backbone), the plain export equals the
plain model, and bad inputs are named."""

import json
import subprocess
import sys

from models.backbones import EMBEDDED, load_tokenizer
from pipeline.loading import build_model
from pipeline.paths import REPO
from serving.onnx_export import export_onnx
from serving.onnx_runtime import OnnxClassifier
from tests.tiny import padded_batch, tiny_model

import numpy as np
import pytest

SENTENCES = ["a gorgeous , witty , seductive movie .", "the story is gripping and the acting superb , but the "
             "ending drags on for far too long and loses the thread of what made the first hour so good .", "dull ."]
# Runs the ONNX file in a fresh interpreter and says whether TensorFlow was ever imported there.
RUNNER = """
import json, sys
import numpy as np
from serving.onnx_runtime import OnnxClassifier
feed = json.loads(sys.argv[2])
out = OnnxClassifier(sys.argv[1])(*(np.array(feed[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
print(json.dumps({"logits": out["logits"].tolist(), "lengths": out["lengths"].tolist(),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def run_without_tensorflow(path, inputs):
    feed = json.dumps({key: np.asarray(value).tolist() for key, value in inputs.items()})
    result = subprocess.run([sys.executable, "-c", RUNNER, str(path), feed], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same(model, path, inputs, lengths):
    expected = model(inputs, lr_mode=model.removes_tokens)
    for index, length in lengths:
        single = {key: np.asarray(value)[index:index + 1, :length] for key, value in inputs.items()}
        got = run_without_tensorflow(path, single)
        assert not got["tensorflow"]
        np.testing.assert_allclose(got["logits"][0], expected.logits.numpy()[index], atol=1e-4)
        if model.removes_tokens:
            alone = model(single, lr_mode=True)
            np.testing.assert_array_equal(got["lengths"][0], [n.numpy()[0] for n in alone.lengths])
    got = run_without_tensorflow(path, inputs)
    np.testing.assert_allclose(got["logits"], expected.logits.numpy(), atol=1e-4)
    if model.removes_tokens:
        np.testing.assert_array_equal(got["lengths"], np.stack([n.numpy() for n in expected.lengths], axis=1))
    return got


@pytest.mark.slow
@pytest.mark.parametrize("adapler", [True, False])
def test_a_tiny_model_in_onnx_runtime_equals_the_model_in_process(tmp_path, adapler):
    model = tiny_model(seed=3, adapler=adapler)
    if adapler:
        model.bert.encoder.ETA.assign([0.9, 0.9])
    path = export_onnx(model, str(tmp_path / "tiny.onnx"))
    lengths = [12, 5, 9]
    got = assert_same(model, path, padded_batch(lengths, seed=4), [(1, 5)])
    if adapler:
        assert np.asarray(got["lengths"])[:, -1].sum() < sum(lengths)  # tokens were removed


@pytest.mark.slow
def test_the_embedded_backbone_with_adapler_in_onnx_runtime_equals_the_model_in_process(tmp_path):
    model = build_model(EMBEDDED, 2).to_AdapLeR()
    rng = np.random.RandomState(0)
    for predictor in model.bert.encoder.contribution_predictors:  # random heads sharp enough to remove tokens
        predictor.head.kernel.assign(rng.normal(0, 3.0, size=predictor.head.kernel.shape).astype("float32"))
    model.bert.encoder.ETA.assign(np.full(6, 0.8, np.float32))
    path = export_onnx(model, str(tmp_path / "minilm.onnx"))
    encoded = load_tokenizer(EMBEDDED)(SENTENCES, padding=True, return_tensors="np")
    inputs = {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids")}
    got = assert_same(model, path, inputs, [(2, int(inputs["attention_mask"][2].sum()))])
    assert np.asarray(got["lengths"])[1, -1] < inputs["attention_mask"][1].sum()


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    return OnnxClassifier(export_onnx(tiny_model(seed=5), str(tmp_path_factory.mktemp("onnx") / "tiny.onnx")))


@pytest.mark.parametrize("change, message", [
    ({"token_type_ids": None}, "token_type_ids is missing"),
    ({"input_ids": np.zeros((2, 6), np.float32)}, "input_ids must hold integers; got float32"),
    ({"attention_mask": np.ones((6,), np.int64)}, r"attention_mask must be \[batch, length\]; got shape \(6,\)"),
    ({"token_type_ids": np.zeros((2, 5), np.int64)}, "must have one shape"),
])
def test_a_bad_input_is_named(tiny_onnx, change, message):
    inputs = dict(input_ids=np.ones((2, 6), np.int64), attention_mask=np.ones((2, 6), np.int64),
                  token_type_ids=np.zeros((2, 6), np.int64))
    inputs.update(change)
    with pytest.raises(ValueError, match=message):
        tiny_onnx(**inputs)


def test_predict_needs_the_tokenizer(tiny_onnx):
    with pytest.raises(ValueError, match="needs the backbone's tokenizer"):
        tiny_onnx.predict(["a text"])


@pytest.mark.slow
def test_quantize_for_another_format_is_refused_before_any_model_is_looked_for(tmp_path):
    # An empty task directory: the flag error must come before the missing checkpoint's.
    command = [sys.executable, f"{REPO}/tools/export_model.py", "--TASK=sst2", "--FORMAT=litert", "--QUANTIZE=int8",
               f"--OUTPUT={tmp_path / 'model.tflite'}", f"--DIRECTORY={tmp_path / 'empty'}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode != 0 and "--QUANTIZE applies to --FORMAT=onnx and onnx_layers." in result.stderr
    assert not (tmp_path / "model.tflite").exists()


def test_a_folder_without_every_piece_is_refused(tmp_path):
    from serving.onnx_runtime import LayerwiseOnnx

    for name in ("start.onnx", "block_1.onnx", "last.onnx"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match="lacks block_0.onnx: not a folder of export_layerwise_onnx"):
        LayerwiseOnnx(str(tmp_path))


def test_sessions_of_one_process_share_one_thread_count(tiny_onnx, tmp_path):
    from serving import onnx_runtime

    path = export_onnx(tiny_model(seed=5), str(tmp_path / "tiny.onnx"))
    threads = onnx_runtime._POOL["threads"]  # fixed by the fixture's session
    onnx_runtime.cpu_session(path, threads)
    with pytest.raises(ValueError, match=f"share one thread pool, of {threads} threads; got threads={threads + 1}"):
        onnx_runtime.cpu_session(path, threads + 1)
