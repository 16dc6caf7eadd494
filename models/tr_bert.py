"""TR-BERT (Ye et al., NAACL 2021): token selection learned by reinforcement, at two points of the encoder.

Before layer 1 and before layer L/2 (0-based; on 6 layers, before layers 1 and 3) a policy head
`p = sigmoid(W2 gelu(W1 h))` gives each token entering the layer a keep probability. Training
(`models/tr_bert_training.py`) samples keep/drop actions from it and rewards a rollout with
`-CE - alpha * kept fraction`; inference keeps the tokens with `p >= 0.5`, removed physically with the
batched packing, so each example keeps its own count (the authors' code gives every example of a batch
the batch's largest count: their batch-1 numbers are what ours are at any batch size). [CLS] is always
kept.

The imitation signal of the first RL steps is the residual score of each token at each point,
`|<g, h_late - h_point>|`, with `g` the gradient of the loss at a late layer's output: how much the
layers between the point and the late layer move the token's state along the direction the loss cares
about. The authors take BERT-base's layer 9 of 12; the port takes the state after `(3 L + 3) // 4`
layers (9 of 12, 5 of 6), past the second point for any L of 4 or more.
"""

import contextlib

from models.pruning import Pruner

import tensorflow as tf
from transformers.modeling_tf_utils import keras

POLICY_UNITS = 32


def selection_points(num_layers):
    """The 0-based layers before which tokens are selected: 1 and L // 2."""
    if num_layers < 4:
        raise ValueError(f"TR-BERT selects before layers 1 and L/2, distinct only from 4 layers; got {num_layers}.")
    return (1, num_layers // 2)


def late_layer(num_layers):
    """Index into the hidden states (0: embeddings) of the late layer whose gradient the residual scores use."""
    return (3 * num_layers + 3) // 4


class PolicyHead(keras.layers.Layer):
    """`d -> units (GELU) -> 1 (sigmoid)`: each token's keep probability.

    Args:
        units: Width of the hidden layer.
        **kwargs: Passed to `keras.layers.Layer`.
    """

    def __init__(self, units=POLICY_UNITS, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation=keras.activations.gelu, name="hidden")
        self.out = keras.layers.Dense(1, name="out")

    def build(self, input_shape):
        with tf.name_scope(self.hidden.name):
            self.hidden.build(input_shape)
        with tf.name_scope(self.out.name):
            self.out.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, hidden_states):
        """`[B, T, d]` states -> `[B, T]` keep probabilities."""
        return tf.sigmoid(self.out(self.hidden(hidden_states)))[..., 0]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


def residual_top_k(residual, probabilities, candidates):
    """The imitation actions: the top `round(sum p)` candidates by residual score, as `[B, T]` bool.

    Args:
        residual: `[B, T]` residual scores at the point.
        probabilities: `[B, T]` the policy's keep probabilities.
        candidates: `[B, T]` bool, the tokens the policy decides on (live, not [CLS]).
    """
    count = tf.cast(tf.round(tf.reduce_sum(tf.where(candidates, probabilities, 0.0), axis=-1)), tf.int32)
    masked = tf.where(candidates, residual, -1.0)
    order = tf.argsort(-masked, axis=-1, stable=True)
    rank = tf.argsort(order, axis=-1, stable=True)
    return (rank < count[:, None]) & candidates


class TRBertPruner(Pruner):
    """TR-BERT's policies: sampled actions in training, `p >= 0.5` at inference, before two layers.

    In the soft mode (training) `soft_factor` returns sampled 0/1 actions, which the encoder applies as a
    mask; inside `guided(residual, imitate)` the rows where `imitate` is True follow `residual_top_k`
    instead of sampling.

    Args:
        num_layers: Encoder layers (4 or more).
        hidden_size: Width of the states the policies read.
        units: Width of the policies' hidden layer.
        **kwargs: Passed to `Pruner`.
    """

    before_layer = True

    def __init__(self, num_layers, hidden_size, units=POLICY_UNITS, **kwargs):
        super().__init__(num_layers, **kwargs)
        self.hidden_size = hidden_size
        self.units = units
        self.points = selection_points(num_layers)
        self.policies = [PolicyHead(units, name=f"policy_{j}") for j in range(len(self.points))]
        self.guide = None

    def build(self, input_shape=None):
        if self.built:
            return
        for policy in self.policies:
            with tf.name_scope(policy.name):
                policy.build((None, None, self.hidden_size))
        self.built = True

    @property
    def state_variables(self):
        return [v for policy in self.policies for v in policy.trainable_weights]

    def point_index(self, layer_index):
        return self.points.index(layer_index)

    def significance(self, layer_index, hidden_states, live):
        """Keep probabilities of the `[B, T, d]` states entering a selection point, 0 at dead positions."""
        return self.policies[self.point_index(layer_index)](hidden_states) * live

    def soft_factor(self, layer_index, scores, live):
        sampled = tf.random.uniform(tf.shape(scores)) < scores
        if self.guide is not None:
            residual, imitate = self.guide
            candidates = (live > 0) & (tf.range(tf.shape(live)[1])[None, :] > 0)
            top_k = residual_top_k(residual[:, : tf.shape(live)[1], self.point_index(layer_index)], scores,
                                   candidates)
            sampled = tf.where(imitate[:, None], top_k, sampled)
        return tf.cast(sampled, tf.float32) * live

    def keep(self, layer_index, scores, live):
        return scores >= 0.5

    def penalty(self, soft_factors, live):
        return tf.constant(0.0)

    @contextlib.contextmanager
    def guided(self, residual, imitate):
        """A context in which the soft mode's rows with `imitate` follow the residual top-k.

        Args:
            residual: `[B, T, points]` residual scores.
            imitate: `[B]` bool.
        """
        self.guide = (residual, imitate)
        try:
            yield
        finally:
            self.guide = None

    def get_config(self):
        return dict(super().get_config(), hidden_size=self.hidden_size, units=self.units)


def per_example_loss(labels, logits):
    """Each example's cross-entropy (squared error for a single regression output), `[B]`."""
    if logits.shape[-1] == 1:
        return tf.square(tf.cast(labels, tf.float32) - logits[:, 0])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)


def kept_fraction(kept, input_lengths):
    """Mean over the selection points of the tokens kept there over the input length, `[B]`.

    The authors divide by the padded length; the unpadded length makes an example's reward independent of
    the batch it is padded in.

    Args:
        kept: Per point, `[B]` tokens left after it ([CLS] included): the lengths entering its layer.
        input_lengths: `[B]` unpadded lengths.
    """
    kept = tf.stack([tf.cast(k, tf.float32) for k in kept], axis=0)
    return tf.reduce_mean(kept / tf.cast(input_lengths, tf.float32)[None, :], axis=0)


def rewards(losses, fractions, alpha):
    """`-loss - alpha * kept fraction` per rollout: less loss and fewer tokens are better."""
    return -losses - alpha * fractions


def log_likelihood(probabilities, actions, candidates):
    """`log P(actions)` of one point's Bernoulli policy over its candidate tokens, `[B]`."""
    p = tf.clip_by_value(probabilities, 1e-6, 1.0 - 1e-6)
    per_token = actions * tf.math.log(p) + (1.0 - actions) * tf.math.log(1.0 - p)
    return tf.reduce_sum(tf.where(candidates, per_token, 0.0), axis=-1)


def policy_gradient_loss(reward, log_probability, samples):
    """REINFORCE with the mean reward of an example's rollouts as baseline: `mean((r - b) * NLL)`.

    Args:
        reward: `[K * B]` rewards, rollout k of example b at `k * B + b`.
        log_probability: `[K * B]` log-probabilities of the rollouts' actions.
        samples: K.
    """
    reward = tf.reshape(tf.stop_gradient(reward), [samples, -1])
    advantage = reward - tf.reduce_mean(reward, axis=0, keepdims=True)
    return tf.reduce_mean(advantage * -tf.reshape(log_probability, [samples, -1]))


def padded_residual_step(model, points, late, max_length):
    """The offline pass for `strategy.run`: `(inputs, labels, indices) -> {"residual": [B, max_length, points]}`.

    Per token and point `|<g, h_late - h_point>|`, with `g` the gradient of the example's loss at the late
    layer's output (examples do not interact at inference, so one backward pass of the summed loss gives
    every example its own gradient), zero at padding and padded to `max_length` so replicas' rows gather.

    Args:
        model: The fine-tuned plain classifier.
        points: The selection points (indices into the hidden states: the states entering those layers).
        late: Index into the hidden states of the late layer.
        max_length: `--MAX_LENGTH`.
    """

    def step(inputs, labels, indices):
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=False, output_hidden_states=True)
            states = outputs.hidden_states
            loss = tf.reduce_sum(per_example_loss(labels, outputs.logits))
        gradient = tape.gradient(loss, states[late])
        scores = tf.stack([tf.abs(tf.reduce_sum(gradient * (states[late] - states[p]), axis=-1)) for p in points],
                          axis=-1)
        scores *= tf.cast(inputs["attention_mask"], scores.dtype)[..., None]
        return {"residual": tf.pad(scores, [[0, 0], [0, max_length - tf.shape(scores)[1]], [0, 0]])}

    return step
