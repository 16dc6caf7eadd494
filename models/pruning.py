"""Token pruning inside the layers, from the attention each token receives (PoWER-BERT, LTP).

Both methods score the tokens from layer i's attention probabilities and drop tokens between the
layer's attention block and its feed-forward block: the attention block runs on the tokens entering
the layer, the feed-forward block on those left. A `Pruner` holds the method's scores, decisions
and learned state; `PruningEncoder` runs the layers in one of four modes:

- `plain` (no pruner attached): the parent's computation.
- `soft` (training): every token stays; the pruner's soft factor scales each token's states (before
  the feed-forward block or after it, as the method does), and the factors are returned.
- `masked`: the hard decisions, applied through the attention mask on the full sequence.
- `removed` (inference): the hard decisions, applied physically: each example's survivors are
  left-packed and the batch padded to the longest survivor count, so a padded batch gives each example
  what it gives alone. `masked` and `removed` give the same logits.

[CLS] always survives (the classifier reads it).
"""

import contextlib
from dataclasses import dataclass
from typing import Optional

from models.token_removal import extended_mask, pack_survivors

import tensorflow as tf
from transformers.modeling_tf_outputs import TFBaseModelOutput
from transformers.modeling_tf_utils import keras
from transformers.models.bert.modeling_tf_bert import TFBertEncoder


def head_mean_attention(probs, live):
    """`[B, T, T]` attention probabilities averaged over heads, rows of dead queries zeroed.

    Args:
        probs: `[B, H, T, T]` probabilities (queries, then keys) of one layer.
        live: `[B, T]` 0/1 mask of the tokens entering the layer.
    """
    return tf.reduce_mean(probs, axis=1) * live[:, :, None]


class Pruner(keras.layers.Layer):
    """A token-pruning method's per-layer scores, soft factors and hard decisions.

    Subclasses set `soft_after_ffn` (or `before_layer`) and define:

    - `significance(layer_index, probs, live)`: `[B, T]` scores of the tokens entering the layer, from its
      `[B, H, T, T]` attention probabilities and the `[B, T]` 0/1 mask of those tokens; a `before_layer`
      pruner (TR-BERT) selects before the layers of its `points` instead, from the `[B, T, d]` states
      entering them, and its soft factors are 0/1 actions applied as a mask;
    - `soft_factor(layer_index, scores, live)`: `[B, T]` multipliers of the soft mode;
    - `keep(layer_index, scores, live)`: `[B, T]` bool hard decisions ([CLS] is kept by the encoder anyway);
    - `penalty(soft_factors, live)`: the soft phase's regulariser (scalar), from every layer's soft
      factors and the input mask.

    Their learned state is built as non-trainable weights: trainers give it an optimizer of its own,
    and after the soft phase it stays frozen.

    Args:
        num_layers: Encoder layers.
        **kwargs: Passed to `keras.layers.Layer`.
    """

    soft_after_ffn = False
    before_layer = False
    points = ()

    def __init__(self, num_layers, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = num_layers

    def clamp(self):  # a hook: a method whose state needs no range leaves it empty
        """Keeps the learned state in range after an update (cross-replica context)."""
        # A statement, not only the docstring: autograph cannot convert an empty body.
        pass

    @property
    def state_variables(self):
        """The variables the soft phase learns."""
        return list(self.weights)

    def get_config(self):
        return dict(super().get_config(), num_layers=self.num_layers)


@dataclass
class TFPruningEncoderOutput(TFBaseModelOutput):
    """Encoder output with per-layer lengths and soft factors.

    Args:
        explanations: Per layer, `[B, T]` significance scores (with `output_explanations`).
        lengths: Per layer, `[B]` tokens entering it (its attention block's length), [CLS] included.
        kept_lengths: Per layer, `[B]` tokens its feed-forward block runs on.
        soft_masks: Per layer, `[B, T]` soft factors (soft mode only).
    """

    explanations: Optional[tuple] = None
    lengths: Optional[tuple] = None
    kept_lengths: Optional[tuple] = None
    soft_masks: Optional[tuple] = None


class PruningEncoder(TFBertEncoder):
    """transformers' `TFBertEncoder`, with an optional `Pruner` between each layer's two blocks.

    Args:
        config: The backbone's `BertConfig`.
        **kwargs: Passed to `TFBertEncoder`.
    """

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.pruner = None
        self.mask_instead_of_removing = False

    @contextlib.contextmanager
    def masking(self):
        """Inside the block, `lr_mode=True` masks the pruned tokens instead of removing them (eager calls)."""
        self.mask_instead_of_removing = True
        try:
            yield
        finally:
            self.mask_instead_of_removing = False

    @property
    def num_layers(self):
        return len(self.layer)

    @property
    def is_adapler(self):
        return False

    def attach(self, pruner):
        """Adds the pruner, built at once so `load_weights` of a pruned checkpoint works right after."""
        with tf.name_scope(self.name), tf.name_scope(pruner.name):
            pruner.build(None)
        self.pruner = pruner

    def _decide(self, layer_index, evidence, live, soft, scores_out, factors):
        """The pruner's scores from `evidence` (attention probabilities, or states for a `before_layer` pruner),
        recorded in `scores_out`; returns `(soft factor, None)` in the soft mode (the factor recorded in
        `factors`), else `(None, hard keep decisions)`."""
        scores = self.pruner.significance(layer_index, evidence, live)
        scores_out.append(scores)
        if soft:
            factors.append(self.pruner.soft_factor(layer_index, scores, live))
            return factors[-1], None
        return None, self.pruner.keep(layer_index, scores, live)

    @staticmethod
    def _remove(keep, states, live, physically):
        """Drops the tokens `keep` rejects ([CLS] and padding aside): packed out of `states` when `physically`,
        else masked. Returns `(states, live, attention bias)`."""
        keep = (keep & (live > 0)) | (tf.range(tf.shape(live)[1])[None, :] == 0)
        if physically:
            (states,), valid = pack_survivors(keep, [states])
            live = tf.cast(valid, tf.float32)
        else:
            live = live * tf.cast(keep, tf.float32)
        return states, live, extended_mask(live)

    def call(self, hidden_states, attention_mask, output_attentions=False, output_hidden_states=False,
             output_explanations=False, output_lengths=True, lr_mode=False, custom_deltas=None, training=False):
        """Runs the layers, pruning between their blocks once a pruner is attached.

        Args:
            hidden_states: `[B, T, d]` embedding output.
            attention_mask: `[B, T]` 0/1 padding mask.
            output_attentions: Return every layer's attention probabilities.
            output_hidden_states: Return the states entering every layer and the last output.
            output_explanations: Return every layer's significance scores.
            output_lengths: Return the per-layer lengths.
            lr_mode: True removes the pruned tokens physically (masks them inside `masking()`); False is the
                soft mode.
            custom_deltas: Not supported (AdapLeR's argument).
            training: Dropout switch.

        Returns:
            A `TFPruningEncoderOutput`.
        """
        if custom_deltas is not None:
            raise ValueError("custom_deltas is AdapLeR's; a pruning model takes its thresholds from its pruner.")
        if self.pruner is None:
            mode = "plain"
        elif lr_mode:
            mode = "masked" if self.mask_instead_of_removing else "removed"
        else:
            mode = "soft"
        live = tf.cast(attention_mask, tf.float32)
        bias = extended_mask(live)
        all_hidden, all_attentions, scores_out, entering, kept, factors = [], [], [], [], [], []
        for i, layer in enumerate(self.layer):
            if mode != "plain" and self.pruner.before_layer and i in self.pruner.points:
                factor, keep = self._decide(i, hidden_states, live, mode == "soft", scores_out, factors)
                keep = keep if factor is None else factor > 0  # the sampled actions, applied as a mask
                hidden_states, live, bias = self._remove(keep, hidden_states, live, mode == "removed")
            if output_hidden_states:
                all_hidden.append(hidden_states)
            entering.append(tf.reduce_sum(live, axis=-1))
            attention_output, probs = layer.attention(
                input_tensor=hidden_states, attention_mask=bias, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None, output_attentions=True, training=training)[:2]
            if output_attentions:
                all_attentions.append(probs)
            factor = None
            if mode != "plain" and not self.pruner.before_layer:
                factor, keep = self._decide(i, probs, live, mode == "soft", scores_out, factors)
                if factor is None:
                    attention_output, live, bias = self._remove(keep, attention_output, live, mode == "removed")
                elif not self.pruner.soft_after_ffn:
                    attention_output = attention_output * factor[..., None]
            kept.append(tf.reduce_sum(live, axis=-1))
            intermediate = layer.intermediate(hidden_states=attention_output)
            hidden_states = layer.bert_output(hidden_states=intermediate, input_tensor=attention_output,
                                              training=training)
            if factor is not None and self.pruner.soft_after_ffn:
                hidden_states = hidden_states * factor[..., None]
        if output_hidden_states:
            all_hidden.append(hidden_states)
        return TFPruningEncoderOutput(
            last_hidden_state=hidden_states,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            attentions=tuple(all_attentions) if output_attentions else None,
            explanations=tuple(scores_out) if output_explanations and scores_out else None,
            lengths=tuple(entering) if output_lengths and self.pruner is not None else None,
            kept_lengths=tuple(kept) if output_lengths and self.pruner is not None else None,
            soft_masks=tuple(factors) if factors else None,
        )
