"""Replica arithmetic: losses weighted by each replica's share of the global batch, so summed gradients
equal one device's on the whole batch."""

import tensorflow as tf


def global_sum(value):
    """The sum of `value` over every replica (call in a replica context)."""
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def replica_share(labels):
    """This replica's fraction of the global batch (call in a replica context).

    A loss averaged over the replica's examples and multiplied by it (`weighted`) sums over the
    replicas to the global-batch mean. A replica left without examples at the end of a split gets 0.
    """
    local = tf.cast(tf.shape(labels)[0], tf.float32)
    return local / global_sum(local)


def with_token_axis(tensors):
    """Pads `[B, T, ...]` tensors to at least one position.

    A replica left without examples at the end of a split receives `[0, 0]` batches, on which
    attention's shapes fail; `[0, 1]` runs and contributes nothing.
    """
    def pad(x):
        # Trailing axes (per-token vectors such as TR-BERT's residual scores per point) are left as they are.
        return tf.pad(x, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(x)[1])]] + [[0, 0]] * (x.shape.rank - 2))

    return tf.nest.map_structure(pad, tensors)


def weighted(value, share):
    """`value * share`, 0 when the share is 0 (the mean over an empty share is NaN)."""
    return tf.math.multiply_no_nan(value, share)
