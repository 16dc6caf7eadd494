"""The BERT encoder with a Contribution Predictor and token removal before every layer."""

from dataclasses import dataclass
from typing import Optional

from models.contribution_predictor import ContributionPredictor
from models.token_removal import (
    MASKED,
    extended_mask,
    initial_acc_mask,
    live_lengths,
    pack_survivors,
    scale_cls,
    scatter_to_positions,
    soft_removal,
)

import tensorflow as tf
from transformers.modeling_tf_outputs import TFBaseModelOutput
from transformers.modeling_tf_utils import keras
from transformers.models.bert.modeling_tf_bert import TFBertEncoder

CP_UNITS = 32
INITIAL_LAMBDA = 1000.0
INITIAL_ETA = 0.25
INITIAL_THETA = 1.0


@dataclass
class TFAdapLeREncoderOutput(TFBaseModelOutput):
    """Encoder output with the per-layer CP scores and live lengths.

    Args:
        explanations: Per layer, `[B, T]` CP scores at the original token positions.
        lengths: Per layer, `[B]` number of tokens entering that layer, [CLS] included.
    """

    explanations: Optional[tuple] = None
    lengths: Optional[tuple] = None


class AdapLeREncoder(TFBertEncoder):
    """transformers' `TFBertEncoder` plus AdapLeR's Contribution Predictors.

    Until `add_contribution_predictors()` is called it computes exactly what the parent does.
    Afterwards, before layer i, CP_i scores the live tokens and tokens scoring under
    `delta_i = ETA[i] / n` are removed: softly (through the attention mask) by default, or
    physically (`lr_mode=True`), where each example's survivors are left-packed and the batch is
    padded only to that layer's longest survivor count.

    Args:
        config: The backbone's `BertConfig`.
        **kwargs: Passed to `TFBertEncoder`.
    """

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.contribution_predictors = None

    @property
    def is_adapler(self):
        return self.contribution_predictors is not None

    @property
    def num_layers(self):
        return len(self.layer)

    def add_contribution_predictors(self, cp_units=CP_UNITS):
        """Adds one CP per layer and the `_lambda`, `ETA`, `THETA` state, all built.

        Args:
            cp_units: Width of each CP's hidden layer.
        """
        if self.is_adapler:
            return
        predictors = []
        for i in range(self.num_layers):
            predictor = ContributionPredictor(
                self.config.hidden_size,
                hidden_act=self.config.hidden_act,
                initializer_range=self.config.initializer_range,
                units=cp_units,
                name=f"contribution_predictor_._{i}",
            )
            with tf.name_scope(self.name), tf.name_scope(predictor.name):
                predictor.build(None)
            predictors.append(predictor)
        self.contribution_predictors = predictors
        constant = keras.initializers.Constant
        with tf.name_scope(self.name):
            self._lambda = self.add_weight(
                name="lr_lambda", shape=(), initializer=constant(INITIAL_LAMBDA), trainable=False
            )
            self.ETA = self.add_weight(
                name="ETA", shape=(self.num_layers,), initializer=constant(INITIAL_ETA), trainable=False
            )
            self.THETA = self.add_weight(
                name="THETA", shape=(self.num_layers - 1,), initializer=constant(INITIAL_THETA), trainable=False
            )

    def thresholds(self, layer_index, acc_mask, custom_deltas=None):
        """`delta_i` per example, `[B, 1]`: `ETA[i] / n`, or the caller's override."""
        if custom_deltas is not None:
            return tf.cast(custom_deltas[layer_index], tf.float32) * tf.ones_like(acc_mask[:, :1])
        return (self.ETA[layer_index] / live_lengths(acc_mask))[:, None]

    def ranking_scores(self, layer_index, scores):
        """CP scores with [CLS] weighted by `THETA[i-1]` (layers after the first)."""
        if layer_index == 0:
            return scores
        return scale_cls(scores, self.THETA[layer_index - 1])

    def call(
        self,
        hidden_states,
        attention_mask,
        output_attentions=False,
        output_hidden_states=False,
        output_explanations=False,
        output_lengths=True,
        lr_mode=False,
        custom_deltas=None,
        training=False,
    ):
        """Runs the layers, removing tokens before each one once AdapLeR is enabled.

        Args:
            hidden_states: `[B, T, d]` embedding output.
            attention_mask: `[B, T]` 0/1 padding mask.
            output_attentions: Return every layer's attention probabilities.
            output_hidden_states: Return the states entering every layer and the last output.
            output_explanations: Return every layer's CP scores.
            output_lengths: Return every layer's live lengths.
            lr_mode: Physically remove tokens (inference); otherwise soft removal.
            custom_deltas: Optional per-layer absolute thresholds replacing `ETA[i] / n`.
            training: Dropout switch.

        Returns:
            A `TFAdapLeREncoderOutput`.
        """
        if lr_mode and not self.is_adapler:
            raise ValueError("lr_mode=True needs the Contribution Predictors: call model.to_AdapLeR() first.")
        if custom_deltas is not None and len(custom_deltas) != self.num_layers:
            raise ValueError(f"custom_deltas has {len(custom_deltas)} values; the model has {self.num_layers} layers.")
        seq_len = tf.shape(hidden_states)[1]
        attention_bias = extended_mask(attention_mask)
        acc_mask = initial_acc_mask(attention_mask)
        positions = tf.zeros_like(attention_mask, dtype=tf.int32) + tf.range(seq_len)[None, :]
        all_hidden_states, all_attentions, explanations, lengths = [], [], [], []

        for i, layer_module in enumerate(self.layer):
            if self.is_adapler:
                scores = self.contribution_predictors[i](hidden_states, acc_mask)
                ranked = self.ranking_scores(i, scores)
                delta = self.thresholds(i, acc_mask, custom_deltas)
                if lr_mode:
                    if output_explanations:
                        explanations.append(scatter_to_positions(scores, positions, seq_len))
                    is_cls = tf.range(tf.shape(acc_mask)[1])[None, :] == 0
                    keep = ((ranked >= delta) & (acc_mask > 0)) | is_cls
                    # Positions only place the explanations; gathering them otherwise adds nodes to every
                    # exported graph.
                    packed, valid = pack_survivors(
                        keep, [hidden_states, acc_mask] + ([positions] if output_explanations else [])
                    )
                    hidden_states, acc_mask = packed[:2]
                    positions = packed[2] if output_explanations else None
                    acc_mask = acc_mask * tf.cast(valid, tf.float32)
                    attention_bias = extended_mask(valid)
                else:
                    explanations.append(scores)
                    edits = soft_removal(ranked, delta, self._lambda) * acc_mask
                    acc_mask = tf.where(acc_mask > 1e-6, acc_mask * tf.exp(edits), acc_mask)
                    attention_bias = tf.maximum(MASKED, attention_bias + edits[:, None, None, :])
                lengths.append(live_lengths(acc_mask))
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
            layer_outputs = layer_module(
                hidden_states=hidden_states,
                attention_mask=attention_bias,
                head_mask=None,
                encoder_hidden_states=None,
                encoder_attention_mask=None,
                past_key_value=None,
                output_attentions=output_attentions,
                training=training,
            )
            hidden_states = layer_outputs[0]
            if output_attentions:
                all_attentions.append(layer_outputs[1])
        if output_hidden_states:
            all_hidden_states.append(hidden_states)

        return TFAdapLeREncoderOutput(
            last_hidden_state=hidden_states,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            attentions=tuple(all_attentions) if output_attentions else None,
            explanations=tuple(explanations) if (output_explanations and self.is_adapler) else None,
            lengths=tuple(lengths) if (output_lengths and self.is_adapler) else None,
        )
