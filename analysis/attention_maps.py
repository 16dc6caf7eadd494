"""Per-layer [CLS] attention (head-averaged) and attention rollout of a BERT classifier."""

import tensorflow as tf


def cls_attention_maps(model, inputs):
    """Raw attention and rollout of the [CLS] query at every layer.

    Rollout (Abnar & Zuidema, 2020): `R_l = norm(0.5 A_l + 0.5 I) R_{l-1}` with `A_l` the
    head-averaged attention of layer l, rows renormalised.

    Args:
        model: A plain (fine-tuned) `TFBertForSequenceClassification`.
        inputs: Dict with `input_ids`, `attention_mask`, `token_type_ids` (`[B, T]`).

    Returns:
        `(attention, rollout)`, each `[B, L, T]` (zero on padding).
    """
    attentions = model(inputs, output_attentions=True).attentions
    mask = tf.cast(inputs["attention_mask"], tf.float32)
    eye = tf.eye(tf.shape(mask)[1])[None]
    rollout = None
    raw, rolled = [], []
    for layer_attention in attentions:
        averaged = tf.reduce_mean(layer_attention, axis=1) * mask[:, None, :]
        raw.append(averaged[:, 0])
        mixed = 0.5 * averaged + 0.5 * eye
        mixed = mixed / tf.reduce_sum(mixed, axis=-1, keepdims=True)
        rollout = mixed if rollout is None else tf.matmul(mixed, rollout)
        rolled.append(rollout[:, 0] * mask)
    return tf.stack(raw, axis=1), tf.stack(rolled, axis=1)
