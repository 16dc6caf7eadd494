"""Saliency (docs/method.md, section 3) against an independent per-example Jacobian."""

from models.saliency import saliency_step
from tests.tiny import padded_batch, row, tiny_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [9, 5, 12]


def _independent(model, inputs, label):
    with tf.GradientTape() as tape:
        outputs = model(inputs, output_hidden_states=True)
        embeddings = outputs.hidden_states[0]
        logits = outputs.logits
    jacobian = tape.jacobian(logits, embeddings)  # [1, K, 1, T, d]
    gold = jacobian[0, label, 0]
    return tf.norm(gold * embeddings[0], axis=-1).numpy()


@pytest.mark.parametrize("adapler", [False, True])
@pytest.mark.parametrize("num_labels", [1, 3])
def test_saliency_equals_a_separate_tape_per_example(adapler, num_labels):
    model = tiny_model(seed=4, adapler=adapler, num_labels=num_labels)
    inputs = padded_batch(LENGTHS, seq_len=14, seed=4)
    labels = tf.constant([2, 0, 1]) if num_labels == 3 else tf.constant([0.5, 2.0, 1.0])
    batched = saliency_step(model, inputs, labels).numpy()
    for index, length in enumerate(LENGTHS):
        label = int(labels[index]) if num_labels == 3 else 0
        expected = _independent(model, row(inputs, index, length), label)
        np.testing.assert_allclose(batched[index, :length], expected, atol=1e-5, rtol=1e-4)
        assert (batched[index, length:] == 0).all()
        assert (batched[index, :length] > 0).all()
