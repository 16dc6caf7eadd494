"""Batch-1 AdapLeR as one graph per encoder layer, with the token drop done between them (LiteRT here).

Inside one graph, hard removal's data-dependent gather leaves every later op with shapes LiteRT only
learns while running, and its XNNPACK delegate stops at the first such op, so most of the encoder
runs on LiteRT's reference kernels. Split at the drops, each piece has a plain dynamic length:
`start` embeds and scores the tokens for layer 1, `block_i` runs layer i and scores for layer i+1,
`last` runs the last layer and the classifier head. Between pieces, keeping the survivors at batch
1 is a NumPy index; the decisions (CP scores, `THETA`-weighted [CLS], `delta = ETA_i / n`) stay in
the graphs, computed as in `model(..., lr_mode=True)`. `serving.onnx_export.export_layerwise_onnx`
writes the same pieces for ONNX Runtime; `serving.layer_runner.LayerwiseRunner` is the loop both run.
"""

import tempfile

from models.token_removal import initial_acc_mask, live_lengths
from serving.layer_runner import LayerwiseRunner
from serving.litert import convert, interpreter

import tensorflow as tf


class LayerwiseModule(tf.Module):
    """The pieces of a classifier (plain or AdapLeR) as `tf.function`s with dynamic length.

    Args:
        model: A `TFBertForSequenceClassification`; with CPs, the pieces also return `keep`.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.encoder = model.bert.encoder
        width = model.config.hidden_size
        ids = [tf.TensorSpec([1, None], tf.int32, name=name) for name in ("input_ids", "token_type_ids")]
        hidden = tf.TensorSpec([1, None, width], tf.float32, name="hidden")
        acc_mask = tf.TensorSpec([1, None], tf.float32, name="acc_mask")
        self.start = tf.function(self._start, input_signature=ids)
        self.blocks = [tf.function(self._block(i), input_signature=[hidden, acc_mask])
                       for i in range(self.encoder.num_layers - 1)]
        self.last = tf.function(self._last, input_signature=[hidden])

    def _keep(self, index, hidden, acc_mask):
        if not self.encoder.is_adapler:
            return {}
        scores = self.encoder.contribution_predictors[index](hidden, acc_mask)
        ranked = self.encoder.ranking_scores(index, scores)
        delta = (self.encoder.ETA[index] / live_lengths(acc_mask))[:, None]
        is_cls = tf.range(tf.shape(acc_mask)[1])[None, :] == 0
        return {"keep": tf.cast(((ranked >= delta) & (acc_mask > 0)) | is_cls, tf.int32)}

    def _layer(self, index, hidden):
        return self.encoder.layer[index](hidden_states=hidden, attention_mask=None, head_mask=None,
                                         encoder_hidden_states=None, encoder_attention_mask=None,
                                         past_key_value=None, output_attentions=False, training=False)[0]

    def _start(self, input_ids, token_type_ids):
        hidden = self.model.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, training=False)
        return dict(self._keep(0, hidden, initial_acc_mask(tf.ones_like(input_ids))), hidden=hidden)

    def _block(self, index):
        def block(hidden, acc_mask):
            out = self._layer(index, hidden)
            return dict(self._keep(index + 1, out, acc_mask), hidden=out)

        return block

    def _last(self, hidden):
        out = self._layer(self.encoder.num_layers - 1, hidden)
        return {"logits": self.model.classifier(self.model.bert.pooler(hidden_states=out))}

    def functions(self):
        """`{piece name: tf.function}`: `start`, `block_0` .. `block_{L-2}`, `last`."""
        functions = {"start": self.start, "last": self.last}
        functions.update({f"block_{i}": block for i, block in enumerate(self.blocks)})
        return functions

    def signatures(self):
        return {name: function.get_concrete_function() for name, function in self.functions().items()}


def export_layerwise(model, output):
    """Writes the pieces of `model` as one `.tflite` file with a signature each (builtin ops only).

    Returns:
        `output`.
    """
    module = LayerwiseModule(model)
    signatures = module.signatures()
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(module, folder, signatures=signatures)
        convert(folder, output, signature_keys=list(signatures))
    return output


class LayerwiseLiteRT(LayerwiseRunner):
    """Runs a file of `export_layerwise` at batch 1 (`path`, with `num_threads` interpreter threads)."""

    def __init__(self, path, num_threads=2):
        runtime = interpreter(path, num_threads)
        blocks = sum(name.startswith("block_") for name in runtime.get_signature_list())
        super().__init__(runtime.get_signature_runner("start"),
                         [runtime.get_signature_runner(f"block_{i}") for i in range(blocks)],
                         runtime.get_signature_runner("last"))
