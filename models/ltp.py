"""LTP, Learned Token Pruning (Kim et al., KDD 2022): drop the tokens whose received attention falls under a
learned threshold per layer.

A token's importance in layer i is layer i's attention to it, averaged over the heads and summed over
the live query rows, divided by a fixed normaliser (the authors pad every input to the maximum length
and divide by it, so an example's scores sum to `n / max_length`; with per-batch padding, dividing by
the padded length would change a token's score with its batch, so the normaliser is the task's
maximum length). The threshold of layer i (counted from 0) is `final_threshold * i / L + delta_i`,
with `delta_i` learned from 0. In the soft phase the layer's output is multiplied by
`sigmoid((score - threshold) / temperature)` and the loss adds `LAMBDA` times the mean mask over
the tokens (summed over layers, normalised like the scores); the hard phase removes the tokens scoring
under `max(1e-5, threshold)`. [CLS] is protected here (the authors' code does not protect it; our
classifier reads it).
"""

from models.pruning import Pruner, head_mean_attention

import numpy as np
import tensorflow as tf
from transformers.modeling_tf_utils import keras

SCORE_FLOOR = 1e-5


def base_thresholds(final_threshold, num_layers):
    """The fixed part of each layer's threshold: `final_threshold * i / L`, i from 0."""
    return final_threshold * np.arange(num_layers, dtype=np.float32) / num_layers


class LTPPruner(Pruner):
    """LTP's thresholds, their soft mask and their hard decisions.

    Args:
        num_layers: Encoder layers.
        max_length: The fixed normaliser of the scores (the task's maximum length).
        final_threshold: The threshold base of the last layer, linearly scaled over the others.
        temperature: Temperature of the soft mask.
        penalty_weight: `LAMBDA` of the mask penalty.
        **kwargs: Passed to `Pruner`.
    """

    soft_after_ffn = True

    def __init__(self, num_layers, max_length, final_threshold=0.01, temperature=1e-3, penalty_weight=0.1,
                 **kwargs):
        super().__init__(num_layers, **kwargs)
        self.max_length = max_length
        self.final_threshold = final_threshold
        self.temperature = temperature
        self.penalty_weight = penalty_weight

    def build(self, input_shape=None):
        if self.built:
            return
        self.threshold_offsets = self.add_weight(name="threshold_offsets", shape=(self.num_layers,),
                                                 initializer=keras.initializers.Zeros(), trainable=False)
        self.built = True

    @property
    def thresholds(self):
        """`[L]` thresholds, base plus the learned offsets."""
        return tf.constant(base_thresholds(self.final_threshold, self.num_layers)) + self.threshold_offsets

    def significance(self, layer_index, probs, live):
        return tf.reduce_sum(head_mean_attention(probs, live), axis=1) / self.max_length * live

    def soft_factor(self, layer_index, scores, live):
        return tf.sigmoid((scores - self.thresholds[layer_index]) / self.temperature) * live

    def keep(self, layer_index, scores, live):
        return scores >= tf.maximum(SCORE_FLOOR, self.thresholds[layer_index])

    def penalty(self, soft_factors, live):
        batch = tf.cast(tf.shape(live)[0], tf.float32)
        kept = tf.add_n([tf.reduce_sum(factor) for factor in soft_factors])
        return self.penalty_weight * kept / (batch * self.max_length)

    def get_config(self):
        return dict(super().get_config(), max_length=self.max_length, final_threshold=self.final_threshold,
                    temperature=self.temperature, penalty_weight=self.penalty_weight)
