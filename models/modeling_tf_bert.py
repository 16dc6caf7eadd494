"""`TFBertForSequenceClassification` with AdapLeR: `to_AdapLeR()`, `lr_mode` and per-layer lengths.

Subclasses transformers' TF BERT classes; only the encoder, the main layer's call and the
classifier's call are overridden, so checkpoints of the plain model load unchanged. `to_AdapLeR()`
records the Contribution Predictors in the config (`adapler_cp_units`), so `save_pretrained(dir)`
and `from_pretrained(dir)` round-trip an AdapLeR model, CPs, ETA and THETA included.
"""

from dataclasses import dataclass
from typing import Optional

from models.checkpoints import CheckpointError, check_compatible
from models.encoder import CP_UNITS, AdapLeREncoder
from models.pruning import PruningEncoder

import tensorflow as tf
import transformers
from transformers.modeling_tf_outputs import TFBaseModelOutputWithPooling, TFSequenceClassifierOutput
from transformers.modeling_tf_utils import unpack_inputs
from transformers.models.bert.modeling_tf_bert import TFBertMainLayer


@dataclass
class TFAdapLeRModelOutput(TFBaseModelOutputWithPooling):
    """Main-layer output with the encoder's `explanations`, `lengths`, `kept_lengths` and `soft_masks`."""

    explanations: Optional[tuple] = None
    lengths: Optional[tuple] = None
    kept_lengths: Optional[tuple] = None
    soft_masks: Optional[tuple] = None


@dataclass
class TFAdapLeRSequenceClassifierOutput(TFSequenceClassifierOutput):
    """Classifier output: `logits`, and per layer `explanations` (CP or significance scores), `lengths`
    (tokens entering the layer), `kept_lengths` (tokens its feed-forward block runs on, for methods that
    prune inside a layer; None for AdapLeR, where they equal `lengths`) and `soft_masks` (soft factors)."""

    explanations: Optional[tuple] = None
    lengths: Optional[tuple] = None
    kept_lengths: Optional[tuple] = None
    soft_masks: Optional[tuple] = None


def _static_shape(tensor):
    return tuple(tensor.shape.as_list()) if tf.is_tensor(tensor) else tuple(getattr(tensor, "shape", ()))


class AdapLeRBertMainLayer(TFBertMainLayer):
    """`TFBertMainLayer` whose encoder removes tokens: an `AdapLeREncoder`, or a `PruningEncoder`.

    Args:
        config: The backbone's `BertConfig`.
        add_pooling_layer: Whether to build the pooler (classification needs it).
        encoder_class: The encoder's class.
        **kwargs: Passed to `TFBertMainLayer`.
    """

    def __init__(self, config, add_pooling_layer=True, encoder_class=AdapLeREncoder, **kwargs):
        super().__init__(config, add_pooling_layer=add_pooling_layer, **kwargs)
        self.encoder = encoder_class(config, name="encoder")

    def check_inputs(self, input_ids, attention_mask, token_type_ids):
        """Raises a `ValueError` for inputs the model cannot take (shapes known at trace time)."""
        shape = _static_shape(input_ids)
        if len(shape) != 2:
            raise ValueError(f"input_ids must have shape [batch, length]; got {shape}.")
        limit = self.config.max_position_embeddings
        if shape[1] is not None and shape[1] > limit:
            raise ValueError(
                f"The input has {shape[1]} tokens but the model's position table holds {limit}: "
                f"truncate the input (e.g. a smaller --MAX_LENGTH)."
            )
        for name, other in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if other is None:
                continue
            other_shape = _static_shape(other)
            compatible = len(other_shape) == 2 and all(
                a is None or b is None or a == b for a, b in zip(shape, other_shape)
            )
            if not compatible:
                raise ValueError(f"{name} has shape {other_shape} but input_ids has shape {shape}; they must match.")

    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        output_attentions=False,
        output_hidden_states=False,
        output_explanations=False,
        output_lengths=True,
        lr_mode=False,
        custom_deltas=None,
        training=False,
    ):
        """Embeds, encodes (with token removal once AdapLeR is enabled) and pools.

        Args:
            input_ids: `[B, T]` token ids, right-padded, [CLS] first.
            attention_mask: `[B, T]` 0/1 padding mask (all ones when omitted).
            token_type_ids: `[B, T]` segment ids (zeros when omitted).
            position_ids: Optional `[B, T]` positions.
            inputs_embeds: Optional `[B, T, d]` embeddings instead of `input_ids`.
            output_attentions: See `AdapLeREncoder.call`.
            output_hidden_states: See `AdapLeREncoder.call`.
            output_explanations: See `AdapLeREncoder.call`.
            output_lengths: See `AdapLeREncoder.call`.
            lr_mode: See `AdapLeREncoder.call`.
            custom_deltas: See `AdapLeREncoder.call`.
            training: Dropout switch.

        Returns:
            A `TFAdapLeRModelOutput`.
        """
        if input_ids is None and inputs_embeds is None:
            raise ValueError("Give either input_ids or inputs_embeds.")
        reference = input_ids if input_ids is not None else inputs_embeds[..., 0]
        self.check_inputs(reference, attention_mask, token_type_ids)
        if attention_mask is None:
            attention_mask = tf.ones_like(reference, dtype=tf.int32)
        if token_type_ids is None:
            token_type_ids = tf.zeros_like(reference, dtype=tf.int32)
        embedding_output = self.embeddings(
            input_ids=input_ids,
            position_ids=position_ids,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            training=training,
        )
        encoded = self.encoder(
            embedding_output,
            attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            output_explanations=output_explanations,
            output_lengths=output_lengths,
            lr_mode=lr_mode,
            custom_deltas=custom_deltas,
            training=training,
        )
        sequence_output = encoded.last_hidden_state
        return TFAdapLeRModelOutput(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(hidden_states=sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            explanations=encoded.explanations,
            lengths=encoded.lengths,
            kept_lengths=getattr(encoded, "kept_lengths", None),
            soft_masks=getattr(encoded, "soft_masks", None),
        )


class TFBertForSequenceClassification(transformers.TFBertForSequenceClassification):
    """BERT classifier that `to_AdapLeR()` turns into AdapLeR.

    Construct it like transformers' class (`from_pretrained(dir_or_name)` or from a
    `BertConfig`). `model(encoded, lr_mode=True)` runs inference with physical token removal.

    Args:
        config: A `BertConfig` with `num_labels`.
        *inputs: Passed to the parent.
        **kwargs: Passed to the parent.
    """

    encoder_class = AdapLeREncoder

    def __init__(self, config, *inputs, **kwargs):
        super().__init__(config, *inputs, **kwargs)
        self.bert = AdapLeRBertMainLayer(config, encoder_class=self.encoder_class, name="bert")

    @property
    def is_adapler(self):
        return self.bert.encoder.is_adapler

    @property
    def removes_tokens(self):
        """Whether `lr_mode=True` removes tokens (and the outputs carry per-layer lengths)."""
        return self.is_adapler

    def to_AdapLeR(self, cp_units=CP_UNITS):  # noqa: N802 (the original's public name)
        """Adds a Contribution Predictor per layer and the lambda/ETA/THETA state.

        The new variables are built at once, so `load_weights` of an AdapLeR `.h5` works right
        after this call, and recorded in the config, so `save_pretrained` keeps them. Calling it
        twice does nothing the second time.

        Args:
            cp_units: Width of each CP's hidden layer.

        Returns:
            The model itself.
        """
        if not self.built:
            self.build_in_name_scope()
        self.config.adapler_cp_units = getattr(self.config, "adapler_cp_units", None) or cp_units
        with tf.name_scope(self.name):
            self._add_contribution_predictors()
        return self

    def _add_contribution_predictors(self):
        # Under the model's and the main layer's scopes, as `build` names every other weight, so the
        # names `save_pretrained` writes are the ones `from_pretrained` looks for.
        with tf.name_scope(self.bert.name):
            self.bert.encoder.add_contribution_predictors(self.config.adapler_cp_units)

    def build(self, input_shape=None):
        """Builds the model, with the Contribution Predictors when the config has them (`from_pretrained`)."""
        super().build(input_shape)
        if getattr(self.config, "adapler_cp_units", None):
            self._add_contribution_predictors()

    def load_weights(self, filepath, *args, **kwargs):
        """Keras `load_weights`, checking first that an `.h5` file fits this model."""
        if str(filepath).endswith(".h5"):
            if not self.built:
                self.build_in_name_scope()
            check_compatible(str(filepath), self.bert.encoder.num_layers, self.is_adapler)
            try:
                return super().load_weights(filepath, *args, **kwargs)
            except ValueError as error:
                raise CheckpointError(f"Checkpoint {filepath} does not fit this model: {error}") from None
        return super().load_weights(filepath, *args, **kwargs)

    @unpack_inputs
    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        output_explanations=False,
        output_lengths=True,
        return_dict=None,
        labels=None,
        training=False,
        lr_mode=False,
        custom_deltas=None,
    ):
        """Classifies, removing tokens layer by layer once AdapLeR is enabled.

        Args:
            input_ids: `[B, T]` ids, or a dict / `BatchEncoding` holding all inputs.
            attention_mask: `[B, T]` padding mask.
            token_type_ids: `[B, T]` segment ids.
            position_ids: Optional positions.
            head_mask: Not supported (must be None).
            inputs_embeds: Optional embeddings instead of ids.
            output_attentions: Return attention probabilities.
            output_hidden_states: Return hidden states.
            output_explanations: Return per-layer CP scores.
            output_lengths: Return per-layer live lengths (default on).
            return_dict: Ignored; the output is always a `TFAdapLeRSequenceClassifierOutput`.
            labels: Optional labels; the loss is returned when given.
            training: Dropout switch (soft removal only).
            lr_mode: Physically drop tokens (inference).
            custom_deltas: Optional per-layer absolute thresholds.

        Returns:
            `TFAdapLeRSequenceClassifierOutput` with `logits`, `explanations`, `lengths`.
        """
        if head_mask is not None:
            raise ValueError("head_mask is not supported by the AdapLeR classifier.")
        outputs = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=bool(output_attentions),
            output_hidden_states=bool(output_hidden_states),
            output_explanations=output_explanations,
            output_lengths=output_lengths,
            lr_mode=lr_mode,
            custom_deltas=custom_deltas,
            training=training,
        )
        pooled = self.dropout(inputs=outputs.pooler_output, training=training)
        logits = self.classifier(inputs=pooled)
        return TFAdapLeRSequenceClassifierOutput(
            loss=None if labels is None else self.hf_compute_loss(labels=labels, logits=logits),
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            explanations=outputs.explanations,
            lengths=outputs.lengths,
            kept_lengths=outputs.kept_lengths,
            soft_masks=outputs.soft_masks,
        )


class TFBertPruningForSequenceClassification(TFBertForSequenceClassification):
    """BERT classifier whose layers prune tokens between their two blocks once `attach_pruner()` gave it a
    `models.pruning.Pruner` (PoWER-BERT, LTP).

    `lr_mode=True` removes the pruned tokens physically (inside `model.bert.encoder.masking()` it masks
    them instead), and a call without `lr_mode` runs the pruner's soft mode. Plain checkpoints load before `attach_pruner()`,
    pruned ones after it.
    """

    encoder_class = PruningEncoder

    @property
    def removes_tokens(self):
        return self.bert.encoder.pruner is not None

    def attach_pruner(self, pruner):
        """Attaches `pruner` (built at once, under the model's scopes); returns the model."""
        if not self.built:
            self.build_in_name_scope()
        with tf.name_scope(self.name), tf.name_scope(self.bert.name):
            self.bert.encoder.attach(pruner)
        return self

    def to_AdapLeR(self, cp_units=CP_UNITS):  # noqa: N802 (the parent's public name)
        raise ValueError("A pruning model has no Contribution Predictors; use TFBertForSequenceClassification.")
