"""The Contribution Predictor (CP): a tiny per-layer head that scores every live token."""

import tensorflow as tf
from transformers.activations_tf import get_tf_activation
from transformers.modeling_tf_utils import keras


class ContributionPredictor(keras.layers.Layer):
    """Scores the contribution of each token entering one encoder layer.

    `z = Dense(1)(act(Dense(units)(h)))`, then a softmax over the sequence restricted to the
    live tokens, with [CLS] (position 0) always in the support:
    `c = softmax(z) * m' / sum(softmax(z) * m')`, `m' = [1, acc_mask[1:]]`.

    Args:
        hidden_size: Width of the hidden states the predictor reads.
        hidden_act: Name of the activation between the two dense layers (the backbone's).
        initializer_range: Standard deviation of the normal kernel initialiser.
        units: Width of the hidden dense layer (32 in the paper).
        **kwargs: Passed to `keras.layers.Layer`.
    """

    def __init__(self, hidden_size, hidden_act="gelu", initializer_range=0.02, units=32, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.units = units
        self.activation = get_tf_activation(hidden_act)
        self.pre_head = keras.layers.Dense(
            units, kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range), name="pre_head"
        )
        self.head = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.RandomNormal(stddev=initializer_range), name="head"
        )

    def build(self, input_shape=None):
        if self.built:
            return
        with tf.name_scope(self.pre_head.name):
            self.pre_head.build([None, None, self.hidden_size])
        with tf.name_scope(self.head.name):
            self.head.build([None, None, self.units])
        self.built = True

    def call(self, hidden_states, acc_mask):
        """Scores the tokens.

        Args:
            hidden_states: `[B, T, hidden_size]` states entering the layer.
            acc_mask: `[B, T]` float mask, 0 at [CLS] and padding, in (0, 1] at live tokens.

        Returns:
            `[B, T]` contribution scores, summing to 1 over [CLS] and the live tokens.
        """
        logits = tf.squeeze(self.head(self.activation(self.pre_head(hidden_states))), axis=-1)
        support = tf.concat([tf.ones_like(acc_mask[:, :1]), acc_mask[:, 1:]], axis=1)
        scores = tf.nn.softmax(logits, axis=-1) * support
        return scores / tf.reduce_sum(scores, axis=-1, keepdims=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_size": self.hidden_size,
                "hidden_act": self.hidden_act,
                "initializer_range": self.initializer_range,
                "units": self.units,
            }
        )
        return config
