"""Running an exported ONNX classifier in ONNX Runtime, without TensorFlow.

    classifier = OnnxClassifier("exports/sst2_adapler.onnx", tokenizer="all-MiniLM-L6-v2")
    classifier.predict(["a gorgeous , witty , seductive movie ."])   # logits, lengths, label

Inputs are checked first, so a wrong one is named (ONNX Runtime's own message names an index or a
node deep in the graph). `LayerwiseOnnx` runs the batch-1 pieces of `export_layerwise_onnx`, one
session per encoder layer, with the token drop between them.
"""

import os

from serving.layer_runner import LayerwiseRunner

import numpy as np
import onnxruntime

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_SUFFIX = "_out"  # after the output names of the layerwise pieces (serving.onnx_export.export_layerwise_onnx)


_POOL = {}  # the intra-op thread count of this process's shared pool, once a session has set it


def cpu_session(path, threads=0, options=None):
    """An ONNX Runtime CPU session of `path` on the process's one shared thread pool.

    With a pool each, a session's threads keep spinning for a while after its call and compete with the next
    session's call on the same cores (measured in docs/results.md, "ONNX Runtime on movies at 512"). One pool
    serves the sessions in turn, as one session would.

    Args:
        path: The `.onnx` file, or its bytes.
        threads: Intra-op threads of the shared pool (0 = ONNX Runtime's default), fixed by the first session
            of the process; None takes the pool as it is (0 if there is none yet).
        options: `onnxruntime.SessionOptions` to start from (their thread settings are replaced).

    Raises:
        ValueError: when an earlier session fixed another thread count.
    """
    if threads is None:
        threads = _POOL.get("threads", 0)
    if "threads" not in _POOL:
        onnxruntime.set_global_thread_pool_sizes(threads, 1)  # once: ONNX Runtime refuses to replace the pool
        _POOL["threads"] = threads
    if _POOL["threads"] != threads:
        raise ValueError(f"ONNX Runtime sessions of one process share one thread pool, of {_POOL['threads']} "
                         f"threads; got threads={threads}.")
    options = options or onnxruntime.SessionOptions()
    options.use_per_session_threads = False
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxClassifier:
    """An exported classifier (`tools/export_model.py --FORMAT=onnx`) in an ONNX Runtime session.

    Args:
        path: The `.onnx` file.
        threads: Intra-op threads of the session (0 = ONNX Runtime's default).
        tokenizer: Optional backbone name or folder (`--BASE_MODEL`) for `predict`.
        max_length: Truncation length of `predict`.
    """

    def __init__(self, path, threads=0, tokenizer=None, max_length=128):
        self.session = cpu_session(path, threads)
        self.outputs = [output.name for output in self.session.get_outputs()]
        self.tokenizer_name, self.max_length, self._tokenizer = tokenizer, max_length, None

    def __call__(self, input_ids, attention_mask, token_type_ids):
        """`{"logits": [B, K], "lengths": [B, L]}` for `[batch, length]` integer inputs.

        Raises:
            ValueError: naming the input that is missing, not integers, not `[batch, length]`, or of another
                shape than `input_ids`.
        """
        feed = {}
        for name, value in zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids)):
            if value is None:
                raise ValueError(f"{name} is missing: the model takes {', '.join(INPUT_NAMES)} ([batch, length] "
                                 "integers; token_type_ids are zeros for single texts).")
            array = np.asarray(value)
            if not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must hold integers; got {array.dtype}.")
            if array.ndim != 2:
                raise ValueError(f"{name} must be [batch, length]; got shape {array.shape}.")
            feed[name] = array.astype(np.int64)
        shapes = {name: value.shape for name, value in feed.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"input_ids, attention_mask and token_type_ids must have one shape; got {shapes}.")
        return dict(zip(self.outputs, self.session.run(self.outputs, feed)))

    def predict(self, texts, text_pairs=None):
        """Tokenises with the backbone's tokenizer, runs the model, adds `label` (argmax)."""
        if self._tokenizer is None:
            if self.tokenizer_name is None:
                raise ValueError("predict needs the backbone's tokenizer: OnnxClassifier(path, tokenizer=...).")
            from models.backbones import load_tokenizer

            self._tokenizer = load_tokenizer(self.tokenizer_name)
        encoded = self._tokenizer(list(texts), None if text_pairs is None else list(text_pairs), truncation=True,
                                  max_length=self.max_length, padding=True, return_tensors="np")
        outputs = self(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        outputs["label"] = outputs["logits"].argmax(axis=-1)
        return outputs


class _Piece:
    """One piece's session, called with keyword inputs; returns `{output name without OUTPUT_SUFFIX: array}`."""

    def __init__(self, path, threads):
        self.session = cpu_session(path, threads)
        self.outputs = [output.name for output in self.session.get_outputs()]
        self.keys = [name.removesuffix(OUTPUT_SUFFIX) for name in self.outputs]

    def __call__(self, **feed):
        return dict(zip(self.keys, self.session.run(self.outputs, feed)))


class LayerwiseOnnx(LayerwiseRunner):
    """Runs a folder of `serving.onnx_export.export_layerwise_onnx` at batch 1 (`threads` intra-op threads)."""

    def __init__(self, folder, threads=0):
        files = set(os.listdir(folder))
        blocks = sum(name.startswith("block_") for name in files)
        missing = {"start.onnx", "last.onnx", *(f"block_{i}.onnx" for i in range(blocks))} - files
        if missing:
            raise ValueError(f"{folder} lacks {', '.join(sorted(missing))}: not a folder of export_layerwise_onnx.")

        def piece(name):
            return _Piece(os.path.join(folder, f"{name}.onnx"), threads)

        super().__init__(piece("start"), [piece(f"block_{i}") for i in range(blocks)], piece("last"))
