"""Tiny random BERT configs and inputs for fast model tests."""

import re

from models.ltp import LTPPruner
from models.modeling_tf_bert import TFBertForSequenceClassification, TFBertPruningForSequenceClassification
from models.power_bert import PoWERBertPruner
from models.tr_bert import TRBertPruner
from pipeline.data import Encoded

import numpy as np
import tensorflow as tf
from transformers import BertConfig


def tiny_config(num_layers=2, num_labels=3, hidden_size=32, max_positions=64, vocab_size=60):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=max_positions,
        num_labels=num_labels,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def tiny_model(seed=0, adapler=True, **config_kwargs):
    tf.keras.utils.set_random_seed(seed)  # Keras initializers without a seed draw from Python random
    model = TFBertForSequenceClassification(tiny_config(**config_kwargs))
    model.build_in_name_scope()
    if adapler:
        model.to_AdapLeR()
        # Random CP heads are near-uniform; sharper random heads make removal actually happen.
        rng = np.random.RandomState(seed)
        for predictor in model.bert.encoder.contribution_predictors:
            kernel = predictor.head.kernel
            kernel.assign(rng.normal(0, 3.0, size=kernel.shape).astype("float32"))
    return model


def padded_batch(lengths, seq_len=None, seed=0, vocab_size=60):
    """Right-padded ids with [CLS]=1 first and [SEP]=2 last, random tokens between."""
    rng = np.random.RandomState(seed)
    seq_len = seq_len or max(lengths)
    ids = np.zeros((len(lengths), seq_len), np.int32)
    mask = np.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.randint(3, vocab_size, size=length)
        ids[row, 0], ids[row, length - 1] = 1, 2
        mask[row, :length] = 1
    return {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.constant(mask),
        "token_type_ids": tf.zeros_like(tf.constant(ids)),
    }


def row(inputs, index, length):
    """Example `index` of a padded batch, unpadded."""
    return {k: v[index : index + 1, :length] for k, v in inputs.items()}


def assert_batch_equals_each_alone(model, inputs, lengths, per_layer_lengths, atol):
    """A padded batch's `lr_mode` logits and per-layer lengths equal each example's run alone, unpadded.

    Args:
        per_layer_lengths: Reads an output's per-layer `[B]` lengths (`lengths`, `kept_lengths`, ...).
    """
    batch = model(inputs, lr_mode=True)
    for index, length in enumerate(lengths):
        alone = model(row(inputs, index, length), lr_mode=True)
        np.testing.assert_allclose(alone.logits.numpy()[0], batch.logits.numpy()[index], atol=atol)
        for mine, theirs in zip(per_layer_lengths(alone), per_layer_lengths(batch)):
            assert mine.numpy()[0] == theirs.numpy()[index]


def save_tiny_backbone(folder, seed=0, num_layers=2):
    """A tiny random BERT with the embedded backbone's vocabulary, saved as a local `--BASE_MODEL` folder.

    No dropout, so runs with `--DETERMINISTIC` repeat exactly.
    """
    from models.backbones import EMBEDDED, load_tokenizer

    from transformers import TFBertModel

    tokenizer = load_tokenizer(EMBEDDED)
    tf.keras.utils.set_random_seed(seed)  # Keras initializers without a seed draw from Python random
    backbone = TFBertModel(tiny_config(num_layers=num_layers, vocab_size=tokenizer.vocab_size, max_positions=128))
    backbone.build_in_name_scope()
    backbone.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def gradient_driven(name, value):
    """The part of weight `name` that training moves by its gradient, or None.

    Left out are weights whose gradient is zero in exact arithmetic: the [PAD] embedding row
    (padding is masked, and each replica pads to its own longest example), the attention key
    biases and the CP head biases (a softmax ignores a shift shared by all tokens). Adam divides
    such a gradient's rounding noise by its own size (epsilon 1e-12), so they move by about the
    learning rate on noise, differently for every summation order or traced graph.
    """
    if "/key/bias" in name or re.search(r"contribution_predictor_\._\d+/head/bias", name):
        return None
    if "word_embeddings/weight" in name:
        return value[1:]
    return value


def unpadded_split(inputs, lengths):
    """The rows of a padded batch as an `Encoded` split of unpadded examples."""
    ids = [inputs["input_ids"].numpy()[i, :length] for i, length in enumerate(lengths)]
    return Encoded(ids, [np.zeros_like(x) for x in ids], np.zeros(len(lengths), np.int64), 16)


def pruning_model(kind, seed=0, num_layers=3):
    """A tiny PoWER-BERT (`power_bert`) or LTP (`ltp`) classifier whose pruner removes tokens of 16-token inputs."""
    tf.keras.utils.set_random_seed(seed)
    model = TFBertPruningForSequenceClassification(tiny_config(num_layers=num_layers))
    model.build_in_name_scope()
    if kind == "power_bert":
        pruner = PoWERBertPruner(num_layers, max_length=16, penalty_weight=1e-3, name="pruner")
        model.attach_pruner(pruner)
        pruner.retention.assign(np.array([10, 6, 3][:num_layers], np.float32))
    else:
        pruner = LTPPruner(num_layers, max_length=16, final_threshold=0.15, temperature=1e-3, name="pruner")
        model.attach_pruner(pruner)
        pruner.threshold_offsets.assign(np.full(num_layers, 0.01, np.float32))
    return model


def tr_bert_model(seed=0, num_layers=4):
    """A tiny TR-BERT classifier whose random policies (sharpened) keep some tokens of 16-token inputs and not others."""
    tf.keras.utils.set_random_seed(seed)
    model = TFBertPruningForSequenceClassification(tiny_config(num_layers=num_layers))
    model.build_in_name_scope()
    pruner = TRBertPruner(num_layers, model.config.hidden_size, name="pruner")
    model.attach_pruner(pruner)
    rng = np.random.RandomState(seed)
    for policy in pruner.policies:
        policy.out.kernel.assign(rng.normal(0, 3.0, size=policy.out.kernel.shape).astype("float32"))
    return model
