"""Gradient x input saliency of the gold logit with respect to the embedding output (docs/method.md, section 3)."""

import tensorflow as tf


def gold_logits(logits, labels):
    """The logit of each example's gold class (the single output for regression)."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    return tf.gather(logits, tf.cast(labels, tf.int32), axis=1, batch_dims=1)


def saliency_step(model, inputs, labels):
    """Per-token saliency `|| d logit_gold / d e_t * e_t ||_2`, zero at padding.

    Examples of a batch do not interact at inference (`training=False`), so the gradient of the
    sum of gold logits gives each example's own row of the batch Jacobian, at the cost of one
    backward pass instead of one per class.

    Args:
        model: A `TFBertForSequenceClassification` (plain or AdapLeR, soft mode is used).
        inputs: Dict with `input_ids`, `attention_mask`, `token_type_ids`.
        labels: `[B]` gold labels.

    Returns:
        `[B, T]` float32 saliencies.
    """
    with tf.GradientTape() as tape:
        outputs = model(inputs, training=False, output_hidden_states=True)
        embeddings = outputs.hidden_states[0]
        target = tf.reduce_sum(gold_logits(outputs.logits, labels))
    grads = tape.gradient(target, embeddings)
    saliency = tf.norm(grads * embeddings, axis=-1)
    return saliency * tf.cast(inputs["attention_mask"], saliency.dtype)


def padded_saliency_step(model, max_length):
    """`saliency_step` for `strategy.run`: `(inputs, labels, indices) -> {"saliency": [B, max_length]}`.

    Rows are padded to `max_length` so the replicas' pieces, each padded to its own longest
    example, can be gathered into one array.
    """

    def step(inputs, labels, indices):
        values = saliency_step(model, inputs, labels)
        return {"saliency": tf.pad(values, [[0, 0], [0, max_length - tf.shape(values)[1]]])}

    return step
