"""The per-layer saliency targets of docs/method.md, section 2 and the weighted KL between them and the CPs."""

from models.token_removal import scale_cls, soft_removal

import tensorflow as tf


def _normalise(values):
    return values / (tf.reduce_sum(values, axis=-1, keepdims=True) + 1e-15)


def kl_divergence(target, predicted):
    """`KL(target || predicted)` per example, arguments clipped to [1e-7, 1] (Keras' rule)."""
    target = tf.clip_by_value(target, 1e-7, 1.0)
    predicted = tf.clip_by_value(predicted, 1e-7, 1.0)
    return tf.reduce_sum(target * tf.math.log(target / predicted), axis=-1)


def layer_kl_losses(saliencies, explanations, attention_mask, eta, theta, lam):
    """KL of every CP to its saliency target, following the soft removal of earlier layers.

    `m_0` covers [CLS] .. [SEP]; target `t_i = normalise(s * m_i)`, with the [CLS] share
    weighted by `THETA[i-1]` for i > 0. After each layer `m` is updated by the soft-removal rule
    at `delta = ETA[i] / sum(m)` and `m[0]` reset to 1. An example whose only live token left is
    [CLS] stops contributing.

    Args:
        saliencies: `[B, T]` saliency of each token (mean over the saved epochs).
        explanations: Per layer, `[B, T]` CP scores of the forward pass.
        attention_mask: `[B, T]` padding mask.
        eta: `[L]` ETA.
        theta: `[L-1]` THETA.
        lam: Soft-removal sharpness.

    Returns:
        `[L]` batch-mean KL per layer.
    """
    mask = tf.cast(attention_mask, tf.float32)
    saliencies = tf.cast(saliencies, tf.float32)
    losses = []
    for i, scores in enumerate(explanations):
        target = _normalise(saliencies * mask)
        if i > 0:
            target = scale_cls(target, theta[i - 1])
        alive = tf.stop_gradient(tf.reduce_max(tf.concat([tf.zeros_like(mask[:, :1]), mask[:, 1:]], 1), axis=-1))
        losses.append(tf.reduce_mean(kl_divergence(target, scores) * alive))
        delta = (eta[i] / (tf.reduce_sum(mask, axis=-1) + 1e-15))[:, None]
        edits = soft_removal(scores, delta, lam) * mask
        mask = tf.where(mask > 1e-6, mask * tf.exp(edits), mask)
        mask = tf.concat([tf.ones_like(mask[:, :1]), mask[:, 1:]], axis=1)
    return tf.stack(losses)
