"""Prediction over a split, task scores, per-example FLOPs and the speedup."""

import contextlib

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models.flops import adapler_flops, bert_flops, speedup
from pipeline.data import batches, num_batches
from tasks.metrics import compute


INPUT_SPEC = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask", "token_type_ids")}
_COMPILED = {}


def compiled_forward(model, lr_mode):
    """`inputs -> (logits, [B, L] lengths)` as one shape-relaxed graph per model and mode.

    Batches of any length reuse the same trace, and repeated calls reuse the same function.
    """
    key = (id(model), bool(lr_mode))
    if key not in _COMPILED:

        @tf.function(input_signature=[INPUT_SPEC])
        def forward(inputs):
            outputs = model(inputs, lr_mode=lr_mode)
            if outputs.lengths is None:
                return outputs.logits, tf.zeros([tf.shape(outputs.logits)[0], 0])
            return outputs.logits, tf.stack(outputs.lengths, axis=1)

        _COMPILED[key] = (model, forward)  # holding the model keeps its id from being reused
    return _COMPILED[key][1]


def predict(model, encoded, batch_size, lr_mode=False, description="predict"):
    """Runs the model over a split in order.

    Args:
        model: A `TFBertForSequenceClassification` (plain or AdapLeR).
        encoded: An `Encoded` split.
        batch_size: Examples per batch.
        lr_mode: Hard token removal (AdapLeR only).
        description: Progress-bar label.

    Returns:
        Dict with `logits` `[N, K]` and `lengths` `[N, L]` (None for a plain model).
    """
    forward = compiled_forward(model, lr_mode)
    logits, lengths = [], []
    for inputs, _, _ in tqdm(batches(encoded, batch_size), total=num_batches(encoded, batch_size),
                             desc=description, leave=False):
        batch_logits, batch_lengths = forward(inputs)
        logits.append(batch_logits.numpy())
        lengths.append(batch_lengths.numpy())
    return {
        "logits": np.concatenate(logits),
        "lengths": np.concatenate(lengths) if model.is_adapler else None,
    }


@contextlib.contextmanager
def scaled_eta(model, scale):
    """Inside the block the AdapLeR model's ETA is `scale` times the trained one (floored at 1e-3);
    the trained ETA is restored after, whatever happens."""
    trained = model.bert.encoder.ETA.numpy().copy()
    model.bert.encoder.ETA.assign(np.clip(trained * scale, 1e-3, None))
    try:
        yield
    finally:
        model.bert.encoder.ETA.assign(trained)


def predictions_from_logits(task, logits):
    return logits[:, 0] if task.is_regression else np.argmax(logits, axis=-1)


def score(task, labels, logits):
    """The task's metrics for these logits (first metric first)."""
    return compute(task.metrics, labels, predictions_from_logits(task, logits))


def flops_report(config, num_labels, input_lengths, layer_lengths):
    """Per-example FLOPs of BERT and of the evaluated model, and the total-ratio speedup.

    Args:
        config: Backbone config.
        num_labels: Classifier outputs.
        input_lengths: `[N]` unpadded input lengths.
        layer_lengths: `[N, L]` live lengths per layer, or None for the plain model.

    Returns:
        Dict with `bert` and `model` arrays of per-example FLOPs and `speedup`.
    """
    baseline = bert_flops(config, input_lengths, num_labels)
    if layer_lengths is None:
        own = baseline
    else:
        own = adapler_flops(config, layer_lengths, num_labels, input_length=input_lengths)
    return {"bert": baseline, "model": own, "speedup": speedup(baseline, own)}
