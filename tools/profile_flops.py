"""Counts the FLOPs of the real TensorFlow graph with TF's profiler, to check `models/flops.py`.

    python -m tools.profile_flops --BASE_MODEL=all-MiniLM-L6-v2 --LENGTHS=64,48,40,32,20,16,12

prints the profiler's count and the analytic count for the plain model at the input length and
for AdapLeR at the given per-layer lengths (first value: input length, then one per layer).
"""

import models  # noqa: F401

import tensorflow as tf
from absl import app, flags
from tensorflow.python.profiler.model_analyzer import profile
from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

from models.token_removal import extended_mask, initial_acc_mask


def _count(concrete_function):
    options = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return profile(concrete_function.graph, options=options).total_float_ops


def profiled_bert_flops(model, n):
    """Profiler FLOPs of the model's plain forward pass on one example of n tokens."""

    def forward(ids):
        return model({"input_ids": ids, "attention_mask": tf.ones_like(ids), "token_type_ids": tf.zeros_like(ids)}).logits

    return _count(tf.function(forward).get_concrete_function(tf.TensorSpec([1, n], tf.int32)))


def profiled_adapler_flops(model, input_length, layer_lengths):
    """Profiler FLOPs of AdapLeR's graph with removal fixed to `layer_lengths`.

    Hard removal has data-dependent shapes the profiler cannot count, so this graph runs the
    model's own embeddings, CPs, layers, pooler and classifier with the survivors already known:
    each layer keeps the first `layer_lengths[i]` tokens (gathers cost no FLOPs).
    """
    encoder = model.bert.encoder

    def forward(ids):
        mask = tf.ones_like(ids)
        hidden = model.bert.embeddings(input_ids=ids, token_type_ids=tf.zeros_like(ids))
        acc_mask = initial_acc_mask(mask)
        for i, (layer, predictor) in enumerate(zip(encoder.layer, encoder.contribution_predictors)):
            scores = encoder.ranking_scores(i, predictor(hidden, acc_mask))
            keep = scores >= encoder.thresholds(i, acc_mask)
            n = layer_lengths[i]
            hidden = hidden[:, :n]
            acc_mask = acc_mask[:, :n] * tf.cast(keep[:, :n], tf.float32)
            bias = extended_mask(tf.ones_like(acc_mask))
            hidden = layer(hidden, bias, None, None, None, None, False)[0]
        return model.classifier(model.bert.pooler(hidden))

    return _count(tf.function(forward).get_concrete_function(tf.TensorSpec([1, input_length], tf.int32)))


def main(argv):
    del argv
    from models.backbones import resolve_backbone
    from models.flops import adapler_flops, bert_flops
    from models.modeling_tf_bert import TFBertForSequenceClassification

    values = [int(v) for v in flags.FLAGS.LENGTHS]
    if len(values) < 2 or any(v < 2 for v in values) or values != sorted(values, reverse=True):
        raise app.UsageError("--LENGTHS: the input length then one non-increasing length (>= 2) per layer.")
    model = TFBertForSequenceClassification.from_pretrained(
        resolve_backbone(flags.FLAGS.BASE_MODEL), num_labels=flags.FLAGS.NUM_LABELS
    )
    input_length, layer_lengths = values[0], values[1:]
    if len(layer_lengths) != model.config.num_hidden_layers:
        raise app.UsageError(
            f"--LENGTHS needs {model.config.num_hidden_layers + 1} values for this backbone, got {len(values)}."
        )
    profiled = profiled_bert_flops(model, input_length)
    analytic = bert_flops(model.config, input_length, flags.FLAGS.NUM_LABELS)
    print(f"BERT    n={input_length}: profiler {profiled:,} analytic {analytic:,.0f} ratio {analytic / profiled:.4f}")
    model.to_AdapLeR()
    profiled = profiled_adapler_flops(model, input_length, layer_lengths)
    analytic = adapler_flops(model.config, layer_lengths, flags.FLAGS.NUM_LABELS, input_length=input_length)
    print(f"AdapLeR {layer_lengths}: profiler {profiled:,} analytic {analytic:,.0f} ratio {analytic / profiled:.4f}")


if __name__ == "__main__":
    flags.DEFINE_string("BASE_MODEL", "all-MiniLM-L6-v2", "Backbone: embedded name, local directory or hub name.")
    flags.DEFINE_list("LENGTHS", "64,48,40,32,24,16,12", "Input length, then the live length of each layer.")
    flags.DEFINE_integer("NUM_LABELS", 2, "Classifier outputs.")
    app.run(main)
