"""Prediction over a split, task scores, per-example FLOPs and the speedup."""

import contextlib

from models.flops import bert_flops, model_flops, speedup
from pipeline.atomic import write_pickle
from pipeline.distribution import gathered_batches
from tasks.metrics import compute

import numpy as np
import tensorflow as tf

INPUT_SPEC = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask", "token_type_ids")}
_COMPILED = {}


def compiled_forward(model, lr_mode):
    """`inputs -> (logits, [B, L] lengths, [B, L] kept lengths)` as one shape-relaxed graph per model and mode.

    `lengths` are the tokens entering each layer, `kept lengths` those its feed-forward block runs on
    (the same for AdapLeR; both `[B, 0]` for a model that removes nothing).

    Batches of any length reuse the same trace, and repeated calls reuse the same function.
    """
    return _compiled(model, lr_mode)[1]


def _compiled(model, lr_mode):
    """`(model, forward, per-replica forward)`, made once per model and mode."""
    # The plain model of a checkpoint is traced apart from what it becomes after to_AdapLeR().
    key = (id(model), lr_mode, model.removes_tokens)
    if key not in _COMPILED:

        @tf.function(input_signature=[INPUT_SPEC])
        def forward(inputs):
            outputs = model(inputs, lr_mode=lr_mode)
            if outputs.lengths is None:
                nothing = tf.zeros([tf.shape(outputs.logits)[0], 0])
                return outputs.logits, nothing, nothing
            kept = outputs.lengths if outputs.kept_lengths is None else outputs.kept_lengths
            return outputs.logits, tf.stack(outputs.lengths, axis=1), tf.stack(kept, axis=1)

        def per_replica(inputs, labels, indices):
            logits, lengths, kept = forward(inputs)
            if not model.removes_tokens:
                # A plain model's [B, 0] lengths stay out: gathering zero-width tensors across replicas crashes.
                return {"logits": logits}
            return {"logits": logits, "lengths": lengths, "kept_lengths": kept}

        _COMPILED[key] = (model, forward, per_replica)  # holding the model keeps its id from being reused
    return _COMPILED[key]


def predict(model, encoded, batch_size, lr_mode=False, description="predict", strategy=None):
    """Runs the model over a split, returning rows in split order.

    Args:
        model: A `TFBertForSequenceClassification` (plain, AdapLeR or a pruning model).
        encoded: An `Encoded` split.
        batch_size: Examples per batch (global under a strategy).
        lr_mode: Hard token removal (models that remove tokens only).
        description: Progress-bar label.
        strategy: The `tf.distribute.Strategy` the model was built under (default: the current one).

    Returns:
        Dict with `logits` `[N, K]`, `lengths` and `kept_lengths` `[N, L]` (None for a model that removes
        nothing; see `compiled_forward`).
    """
    parts = list(gathered_batches(strategy or tf.distribute.get_strategy(), _compiled(model, lr_mode)[2], encoded,
                                  batch_size, description))
    order = np.argsort(np.concatenate([part["index"] for part in parts]), kind="stable")

    def rows(key):
        return np.concatenate([part[key] for part in parts])[order] if key in parts[0] else None

    return {"logits": rows("logits"), "lengths": rows("lengths"), "kept_lengths": rows("kept_lengths")}


def layer_scales(scale, late_factor, num_layers):
    """Per-layer ETA multipliers: `scale` for the first half of the layers, `scale * late_factor` for the rest.

    Args:
        scale: Multiplier of every layer's ETA.
        late_factor: Extra multiplier of layers `num_layers // 2 + 1 .. num_layers` (1-based).
        num_layers: Encoder layers.

    Returns:
        `[num_layers]` float32 array.
    """
    return np.where(np.arange(num_layers) < num_layers // 2, scale, scale * late_factor).astype(np.float32)


def late_factor_suffix(late_factor):
    """How logs and tables name a later-layer factor: nothing for 1, else `, later layers x1.5`."""
    return "" if late_factor == 1 else f", later layers x{late_factor:g}"


def scale_label(scale):
    """`x0.8` for one multiplier, `x0.8:0.8:1.2:...` for per-layer ones."""
    values = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    if np.all(values == values[0]):
        return f"x{values[0]:g}"
    return "x" + ":".join(f"{value:g}" for value in values)


@contextlib.contextmanager
def scaled_eta(model, scale):
    """Inside the block the AdapLeR model's ETA is `scale` times the trained one (floored at 1e-3);
    the trained ETA is restored after, whatever happens. `scale` is one number or one per layer."""
    trained = model.bert.encoder.ETA.numpy().copy()
    model.bert.encoder.ETA.assign(np.clip(trained * np.asarray(scale, np.float32), 1e-3, None))
    try:
        yield
    finally:
        model.bert.encoder.ETA.assign(trained)


def score_with_removal(model, task, encoded, batch_size, scale=1.0, strategy=None):
    """An AdapLeR model's first-metric score and FLOPs speedup with hard removal at `scale` times its ETA.

    Args:
        model: An AdapLeR `TFBertForSequenceClassification` (its trained ETA is restored after).
        task: The task.
        encoded: An `Encoded` split with labels.
        batch_size: Examples per batch (global under a strategy).
        scale: ETA multiplier, one number or one per layer (see `layer_scales`).
        strategy: The `tf.distribute.Strategy` the model was built under (default: the current one).

    Returns:
        `(score, speedup)`.
    """
    with scaled_eta(model, scale):
        outputs = predict(model, encoded, batch_size, lr_mode=True,
                          description=f"hard removal, ETA {scale_label(scale)}", strategy=strategy)
    first = score(task, encoded.labels, outputs["logits"])[task.metrics[0]]
    return first, flops_report(model, task.num_labels, encoded.lengths, outputs)["speedup"]


def predictions_from_logits(task, logits):
    return logits[:, 0] if task.is_regression else np.argmax(logits, axis=-1)


def score(task, labels, logits):
    """The task's metrics for these logits (first metric first)."""
    return compute(task.metrics, labels, predictions_from_logits(task, logits))


def flops_report(model, num_labels, input_lengths, outputs=None, baseline_config=None, model_input_lengths=None):
    """Per-example FLOPs of the plain model and of the evaluated one, and the total-ratio speedup.

    The baseline is the plain fine-tuned model at each example's unpadded length, whatever the method.

    Args:
        model: The evaluated model.
        num_labels: Classifier outputs.
        input_lengths: `[N]` unpadded input lengths at the task's maximum length.
        outputs: What `predict` returned (`lengths`, `kept_lengths`), for a model that removes tokens.
        baseline_config: Config of the plain model (default: the evaluated model's; a smaller student
            passes its teacher's).
        model_input_lengths: `[N]` lengths the evaluated model read (default `input_lengths`; a model
            trained on truncated inputs passes theirs).

    Returns:
        Dict with `bert` and `model` arrays of per-example FLOPs and `speedup`.
    """
    baseline = bert_flops(baseline_config or model.config, input_lengths, num_labels)
    own = model_flops(model, num_labels, input_lengths if model_input_lengths is None else model_input_lengths,
                      outputs)
    return {"bert": baseline, "model": own, "speedup": speedup(baseline, own)}


def write_flops_per_example(path, checkpoint, split, encoded, layer_lengths, flops):
    """`logs/flops_per_example.pickle` of stages 4 and 5, as the original writes it, with more beside.

    `bert` and `adapler` are the original's keys: per-example FLOPs of the plain model at each
    example's unpadded length and of the evaluated model (for a plain checkpoint, the same), as lists.

    Args:
        path: The pickle.
        checkpoint: The evaluated checkpoint.
        split: The split.
        encoded: Its `Encoded` examples.
        layer_lengths: `[N, L]` tokens entering each layer, or None for a plain model.
        flops: `flops_report` of the same examples.
    """
    write_pickle(path, {
        "bert": flops["bert"].tolist(), "adapler": flops["model"].tolist(),
        "checkpoint": checkpoint, "split": split, "input_lengths": encoded.lengths, "layer_lengths": layer_lengths,
        "bert_flops": flops["bert"], "model_flops": flops["model"],
    })
