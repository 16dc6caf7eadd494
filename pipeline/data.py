"""Tokenised examples and dynamically padded batches that carry their example indices."""

from dataclasses import dataclass

from tasks.readers import DataError

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

    def select(self, indices):
        """The examples at `indices`, in that order."""
        return Encoded([self.input_ids[i] for i in indices], [self.token_type_ids[i] for i in indices],
                       self.labels[indices], self.max_length)


def at_least(encoded, min_length):
    """Indices of the examples of at least `min_length` tokens ([CLS] and [SEP] included).

    Raises:
        DataError: No example is that long.
    """
    kept = np.flatnonzero(encoded.lengths >= min_length)
    if not len(kept):
        raise DataError(f"No training example has --MIN_TRAIN_LENGTH={min_length} tokens or more (the longest has "
                        f"{encoded.lengths.max()}).")
    return kept


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


def example_order(encoded, shuffle_seed=None):
    """Example indices in split order, or shuffled by `shuffle_seed` (e.g. seed + epoch)."""
    order = np.arange(len(encoded))
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(order)
    return order


def length_grouped_order(encoded, shuffle_seed, batch_size, window=50):
    """A shuffled order whose batches hold examples of similar length (HF's `group_by_length`).

    The shuffled indices are sorted by length within windows of `window` batches, cut into
    batches, and the full batches shuffled again; a last partial batch stays last, so every
    `batch_size` consecutive indices remain one batch. Batches then pad little, which makes a
    step on short sentences cheaper, while every epoch still sees every example once.

    Args:
        encoded: An `Encoded` split.
        shuffle_seed: Seed of both shuffles (e.g. seed + epoch).
        batch_size: Examples per (global) batch.
        window: Batches per sorting window; larger groups lengths tighter and shuffles less.

    Returns:
        `[N]` example indices.
    """
    rng = np.random.RandomState(shuffle_seed)
    order = rng.permutation(len(encoded))
    lengths = encoded.lengths
    span = batch_size * window
    order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                            for chunk in np.split(order, range(span, len(order), span))])
    full = len(order) // batch_size
    batches = order[: full * batch_size].reshape(full, batch_size)[rng.permutation(full)]
    return np.concatenate([batches.reshape(-1), order[full * batch_size:]])


def training_order(encoded, shuffle_seed, batch_size, group_by_length=False):
    """The example order of one training epoch: shuffled by `shuffle_seed`, batches of similar lengths
    with `group_by_length` (the epoch loop passes the data seed plus the 0-based epoch)."""
    if group_by_length:
        return length_grouped_order(encoded, shuffle_seed, batch_size)
    return example_order(encoded, shuffle_seed=shuffle_seed)


def length_order(encoded):
    """Example indices from shortest to longest (split order among equal lengths).

    For passes whose rows are put back by index (prediction, saliencies): batches of similar
    lengths pad little, so a split costs fewer padded tokens than in split order.
    """
    return np.argsort(encoded.lengths, kind="stable")


def dataset(encoded, batch_size, order, rows=None, input_context=None):
    """A `tf.data` pipeline of `(inputs, labels, indices[, rows])`, each batch padded to its longest example.

    Under a distribution strategy it is one input pipeline's share: examples are dealt to the
    pipelines in turn and batched per replica, so the replicas of one step together hold the
    next `batch_size * replicas` examples of `order`, as one device would.

    Args:
        encoded: An `Encoded` split.
        batch_size: Examples per batch (per replica under a strategy).
        order: Example indices in the order to visit them.
        rows: Optional `[N, T]` per-example arrays (e.g. saliencies) cut to each example's length
            and batched with it, so they stay with their examples whatever the order.
        input_context: The `tf.distribute.InputContext` of `distribute_datasets_from_function`.

    Returns:
        A `tf.data.Dataset` of `inputs` (dict of `[b, t]` int32), `labels` `[b]`, `indices` `[b]`
        int64 and, with `rows`, `[b, t]` rows.
    """
    ids = tf.ragged.constant(encoded.input_ids, dtype=tf.int32, ragged_rank=1)
    types = tf.ragged.constant(encoded.token_type_ids, dtype=tf.int32, ragged_rank=1)
    labels = tf.constant(encoded.labels)
    table = None if rows is None else tf.constant(rows)

    def example(index):
        input_ids = ids[index]
        features = ({"input_ids": input_ids, "attention_mask": tf.ones_like(input_ids), "token_type_ids": types[index]},
                    labels[index], index)
        if table is None:
            return features
        return features + (table[index, : tf.shape(input_ids, out_type=tf.int64)[0]],)

    data = tf.data.Dataset.from_tensor_slices(np.asarray(order, np.int64))
    if input_context is not None and input_context.num_input_pipelines > 1:
        data = data.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return data.map(example).padded_batch(batch_size).prefetch(2)


def batches(encoded, batch_size, shuffle_seed=None):
    """Yields `(inputs, labels, indices)` with each batch padded to its longest example (one device).

    Args:
        encoded: An `Encoded` split.
        batch_size: Examples per batch.
        shuffle_seed: Shuffles the order (e.g. seed + epoch) when given; otherwise split order.

    Yields:
        `inputs` dict of `[b, t]` int32 tensors, `labels` `[b]`, `indices` `[b]` example indices.
    """
    for inputs, labels, indices in dataset(encoded, batch_size, example_order(encoded, shuffle_seed)):
        yield inputs, labels.numpy(), indices.numpy()


def num_batches(encoded, batch_size):
    return -(-len(encoded) // batch_size)
