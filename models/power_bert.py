"""PoWER-BERT (Goyal et al., ICML 2020): keep the tokens that receive the most attention, a learned number
per layer.

The significance of a token in layer j is the attention it receives, averaged over heads and summed
over the live query rows, minus its attention to itself. In the soft phase the token of rank k (by
significance) has its states multiplied by a learned retention weight `r_j[k]` in [0, 1], after the
layer's attention block, and the loss adds `LAMBDA * sum_j j * sum_k r_j[k]` (j counted from 1). The
retention configuration then fixes how many tokens each layer keeps (`retention_configuration`), and
the hard phase keeps [CLS] and the top `l_j - 1` other tokens, in their original order.

Port choices: the authors sum over every query row of a sequence padded to the task's maximum length;
here only live queries count, so an example scores the same in any batch. A short example keeps
`min(l_j, n)` tokens.
"""

from models.pruning import Pruner, head_mean_attention

import numpy as np
import tensorflow as tf
from transformers.modeling_tf_utils import keras


def retention_configuration(weights):
    """Tokens kept per layer from the learned retention weights (the authors' rule).

    For each layer in order, `l_j = floor(sum_k r_j[k])`, at least 1 and at most `l_{j-1}`.

    Args:
        weights: `[L, N]` retention weights.

    Returns:
        `L` ints.
    """
    configuration = []
    for row in np.asarray(weights, dtype=np.float64):
        count = max(1, int(np.floor(np.sum(row) + 1e-6)))
        configuration.append(min(count, configuration[-1]) if configuration else count)
    return configuration


def ranks(scores, candidates):
    """Each position's rank by descending score among `candidates` (0 = highest), the others after them.

    Ties keep position order, which packing preserves, so a packed sequence ranks as its masked form.
    """
    masked = tf.where(candidates, scores, -1.0)
    order = tf.argsort(-masked, axis=-1, stable=True)
    return tf.argsort(order, axis=-1, stable=True)


class PoWERBertPruner(Pruner):
    """PoWER-BERT's soft extract (retention weights) and hard extract (a retention configuration).

    Args:
        num_layers: Encoder layers.
        max_length: Length of the retention vectors (the task's maximum length).
        penalty_weight: `LAMBDA` of the L1 penalty.
        **kwargs: Passed to `Pruner`.
    """

    soft_after_ffn = False

    def __init__(self, num_layers, max_length, penalty_weight=1e-4, **kwargs):
        super().__init__(num_layers, **kwargs)
        self.max_length = max_length
        self.penalty_weight = penalty_weight

    def build(self, input_shape=None):
        if self.built:
            return
        self.retention_weights = self.add_weight(name="retention_weights", shape=(self.num_layers, self.max_length),
                                                 initializer=keras.initializers.Ones(), trainable=False)
        self.retention = self.add_weight(name="retention", shape=(self.num_layers,),
                                         initializer=keras.initializers.Constant(self.max_length), trainable=False)
        self.built = True

    @property
    def state_variables(self):
        return [self.retention_weights]

    def significance(self, layer_index, probs, live):
        attention = head_mean_attention(probs, live)
        received = tf.reduce_sum(attention, axis=1) - tf.linalg.diag_part(attention)
        return received * live

    def soft_factor(self, layer_index, scores, live):
        # No [CLS] protection in the soft phase, as the authors.
        position = tf.minimum(ranks(scores, live > 0), self.max_length - 1)
        return tf.gather(self.retention_weights[layer_index], position)

    def keep(self, layer_index, scores, live):
        not_cls = tf.range(tf.shape(live)[1])[None, :] > 0
        others = tf.cast(self.retention[layer_index], tf.int32) - 1
        return ranks(scores, (live > 0) & not_cls) < others

    def penalty(self, soft_factors, live):
        depth = tf.range(1, self.num_layers + 1, dtype=tf.float32)
        return self.penalty_weight * tf.reduce_sum(depth * tf.reduce_sum(self.retention_weights, axis=-1))

    def clamp(self):
        self.retention_weights.assign(tf.clip_by_value(self.retention_weights, 0.0, 1.0))

    def configure(self):
        """Fixes the hard phase's token counts from the learned weights; returns them."""
        configuration = retention_configuration(self.retention_weights.numpy())
        self.retention.assign(np.asarray(configuration, np.float32))
        return configuration

    def get_config(self):
        return dict(super().get_config(), max_length=self.max_length, penalty_weight=self.penalty_weight)
