"""The arithmetic of token removal: thresholds, soft removal and batched packing of survivors."""

import tensorflow as tf

# Additive attention-mask value of a removed key; exp(-10000) underflows to exactly 0 in float32.
MASKED = -10000.0
SOFT_REMOVAL_BETA = 0.1


def scale_cls(scores, theta):
    """Re-weights the [CLS] score by `theta` and renormalises (THETA, docs/method.md sections 1 and 2).

    Args:
        scores: `[B, T]` scores summing to 1 over the support.
        theta: Scalar weight of [CLS]; kept positive.

    Returns:
        `[B, T]` rescaled scores summing to 1.
    """
    theta = tf.maximum(theta, 1e-3)
    scaled = tf.concat([scores[:, :1] * theta, scores[:, 1:]], axis=1)
    return scaled / tf.reduce_sum(scaled, axis=-1, keepdims=True)


def soft_removal(scores, delta, lam, beta=SOFT_REMOVAL_BETA):
    """Log-space keep factor of each token, `S(x)` of docs/method.md, section 1.

    Zero (keep) for scores above the threshold, steeply negative below it; `lam` sets the
    steepness. At `lam = 1e20` every token under the threshold gets exactly -10000.

    Args:
        scores: `[B, T]` token scores.
        delta: `[B, 1]` (or broadcastable) thresholds.
        lam: Sharpness lambda.
        beta: Small slope that keeps gradients alive above the threshold.

    Returns:
        `[B, T]` values in [-10000, 0].
    """
    # The floor keeps lam / delta finite when a caller passes a zero threshold.
    slope = lam / tf.maximum(delta, 1e-12)
    below = slope * (scores - delta) - beta / lam
    above = (scores - 1.0) * (beta / lam) / (1.0 - delta + 1e-7)
    return tf.clip_by_value(tf.minimum(below, above), MASKED, 0.0)


def initial_acc_mask(attention_mask):
    """The live-token mask (docs/method.md, section 1): 0 at [CLS] and padding, 1 elsewhere ([SEP] included).

    Args:
        attention_mask: `[B, T]` 0/1 padding mask, [CLS] at position 0.

    Returns:
        `[B, T]` float32 mask.
    """
    mask = tf.cast(attention_mask, tf.float32)
    return tf.concat([tf.zeros_like(mask[:, :1]), mask[:, 1:]], axis=1)


def live_lengths(acc_mask):
    """Current lengths `n = sum(acc_mask) + 1` ([CLS] included), shape `[B]`."""
    return tf.reduce_sum(acc_mask, axis=-1) + 1.0


def extended_mask(valid):
    """Additive `[B, 1, 1, T]` attention mask from a `[B, T]` 0/1 (or soft) key mask."""
    # Reshape, not `[:, None, None, :]`: a strided slice with new axes has no LiteRT builtin kernel.
    blocked = 1.0 - tf.cast(valid, tf.float32)
    return tf.reshape(blocked, [tf.shape(blocked)[0], 1, 1, tf.shape(blocked)[1]]) * MASKED


def pack_survivors(keep, tensors):
    """Left-packs each example's kept positions, keeping their order (batched hard removal).

    The batch is padded only to the largest survivor count, so a layer costs what its
    longest example needs.

    Args:
        keep: `[B, T]` bool, True where the token survives.
        tensors: List of `[B, T, ...]` tensors to gather.

    Returns:
        `(gathered, valid)`: the gathered tensors, each `[B, T', ...]`, and the `[B, T']` bool
        mask of real (non-padding) slots.
    """
    seq_len = tf.shape(keep)[1]
    positions = tf.range(seq_len)[None, :]
    # Kept positions sort first, each group in its original order.
    order = tf.argsort(tf.where(keep, 0, seq_len) + positions, axis=-1)
    counts = tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1)
    new_len = tf.reduce_max(counts)
    order = order[:, :new_len]
    valid = tf.sequence_mask(counts, new_len)
    return [tf.gather(t, order, batch_dims=1) for t in tensors], valid


def scatter_to_positions(values, positions, seq_len):
    """Puts packed per-token values back at their original positions (zeros elsewhere).

    Args:
        values: `[B, T']` values of packed slots (0 on padding slots).
        positions: `[B, T']` int32 original position of each slot.
        seq_len: Original sequence length T.

    Returns:
        `[B, T]` tensor.
    """
    batch = tf.shape(values)[0]
    segment = positions + tf.range(batch)[:, None] * seq_len
    flat = tf.math.unsorted_segment_sum(tf.reshape(values, [-1]), tf.reshape(segment, [-1]), batch * seq_len)
    return tf.reshape(flat, [batch, seq_len])
