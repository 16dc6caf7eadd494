"""The FLOPs of the real TensorFlow graph as TF's profiler counts them, to check `models/flops.py`."""

from models.token_removal import extended_mask, initial_acc_mask

import tensorflow as tf
from tensorflow.python.profiler.model_analyzer import profile
from tensorflow.python.profiler.option_builder import ProfileOptionBuilder


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


def profiled_pruned_flops(model, input_length, attention_lengths, ffn_lengths):
    """Profiler FLOPs of a pruning model's graph with the lengths fixed: layer i's attention block on
    `attention_lengths[i]` tokens, the pruner's scores and decisions, and its feed-forward block on the first
    `ffn_lengths[i]` of them (gathers cost no FLOPs)."""
    encoder = model.bert.encoder
    pruner = encoder.pruner

    def forward(ids):
        hidden = model.bert.embeddings(input_ids=ids, token_type_ids=tf.zeros_like(ids))
        for i, layer in enumerate(encoder.layer):
            hidden = hidden[:, : attention_lengths[i]]
            live = tf.ones_like(hidden[..., 0])
            attended, probs = layer.attention(hidden, extended_mask(live), None, None, None, None, True)[:2]
            # The profiler counts every op of the graph, used or not: the scores and decisions count too.
            pruner.keep(i, pruner.significance(i, probs, live), live)
            attended = attended[:, : ffn_lengths[i]]
            hidden = layer.bert_output(layer.intermediate(attended), attended)
        return model.classifier(model.bert.pooler(hidden))

    return _count(tf.function(forward).get_concrete_function(tf.TensorSpec([1, input_length], tf.int32)))


def profiled_policy_flops(pruner, layer_index, n, hidden_size):
    """Profiler FLOPs of a `before_layer` pruner's decisions on n tokens at one selection point (TR-BERT)."""

    def decide(states):
        live = tf.ones_like(states[..., 0])
        return pruner.keep(layer_index, pruner.significance(layer_index, states, live), live)

    return _count(tf.function(decide).get_concrete_function(tf.TensorSpec([1, n, hidden_size], tf.float32)))
