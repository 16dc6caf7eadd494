"""Tokenised examples and dynamically padded batches that carry their example indices."""

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass
class Encoded:
    """A tokenised split: ragged ids and segment ids, labels, and the padded length cap."""

    input_ids: list
    token_type_ids: list
    labels: np.ndarray
    max_length: int

    def __len__(self):
        return len(self.input_ids)

    @property
    def lengths(self):
        return np.array([len(ids) for ids in self.input_ids])

    def subset(self, count):
        return Encoded(self.input_ids[:count], self.token_type_ids[:count], self.labels[:count], self.max_length)


def encode(examples, tokenizer, max_length):
    """Tokenises `Example`s (pairs as pairs, with token types), truncating to `max_length`."""
    firsts = [e.text_a for e in examples]
    seconds = [e.text_b for e in examples] if examples[0].text_b is not None else None
    tokens = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
    labels = np.array([e.label for e in examples])
    return Encoded(
        [np.array(ids, np.int32) for ids in tokens["input_ids"]],
        [np.array(types, np.int32) for types in tokens["token_type_ids"]],
        labels,
        max_length,
    )


def _pad(rows, width):
    out = np.zeros((len(rows), width), np.int32)
    for row, values in enumerate(rows):
        out[row, : len(values)] = values
    return out


def batches(encoded, batch_size, shuffle_seed=None):
    """Yields `(inputs, labels, indices)` with each batch padded to its longest example.

    Args:
        encoded: An `Encoded` split.
        batch_size: Examples per batch.
        shuffle_seed: Shuffles the order (e.g. seed + epoch) when given; otherwise split order.

    Yields:
        `inputs` dict of `[b, t]` int32 tensors, `labels` `[b]`, `indices` `[b]` example indices.
    """
    order = np.arange(len(encoded))
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        ids = [encoded.input_ids[i] for i in indices]
        width = max(len(x) for x in ids)
        input_ids = _pad(ids, width)
        inputs = {
            "input_ids": tf.constant(input_ids),
            "attention_mask": tf.constant(_pad([np.ones_like(x) for x in ids], width)),
            "token_type_ids": tf.constant(_pad([encoded.token_type_ids[i] for i in indices], width)),
        }
        yield inputs, encoded.labels[indices], indices


def num_batches(encoded, batch_size):
    return -(-len(encoded) // batch_size)
