"""A `tf.Module` with the serving signatures of a trained classifier, and its SavedModel export.

`serving_default` takes raw text (`text`, plus `text_pair` for sentence-pair tasks), tokenises it
in the graph and runs the model; `serving_ids` takes `input_ids`, `attention_mask` and
`token_type_ids` (`[batch, length]` int32). An AdapLeR model runs with hard removal, so each layer
only computes its surviving tokens. Both return `logits`, `lengths` (`[batch, layers]`: tokens
entering each layer, [CLS] included; every token for the plain model) and, for classification,
`probabilities`, `label` (int id) and `label_name`; for regression `score`.
"""

from pipeline.atomic import atomic_dir

import tensorflow as tf

IDS_SPEC = {name: tf.TensorSpec([None, None], tf.int32, name=name)
            for name in ("input_ids", "attention_mask", "token_type_ids")}


class ServingModule(tf.Module):
    """The model, its in-graph tokenizer and the task's label names, with both signatures.

    Args:
        model: A `TFBertForSequenceClassification` (plain, or AdapLeR after `to_AdapLeR()`).
        tokenizer: An `InGraphTokenizer` of the backbone.
        task: The `Task` (label names, regression or not).
        pair: Whether the task takes sentence pairs (adds the `text_pair` input).
    """

    def __init__(self, model, tokenizer, task, pair):
        super().__init__(name="adapler_serving")
        self.model, self.tokenizer = model, tokenizer
        self.lr_mode = bool(model.is_adapler)
        self.label_names = tf.constant(list(task.label_names) or [""], name="label_names")
        self.regression = task.is_regression
        self.ids = tf.function(self._run, input_signature=[IDS_SPEC])
        text = tf.TensorSpec([None], tf.string, name="text")
        if pair:
            self.text = tf.function(lambda text, text_pair: self._run(self.tokenizer(text, text_pair)),
                                    input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")])
        else:
            self.text = tf.function(lambda text: self._run(self.tokenizer(text)), input_signature=[text])

    def _run(self, inputs):
        outputs = self.model(inputs, lr_mode=self.lr_mode, training=False)
        logits = outputs.logits
        if self.lr_mode:
            lengths = tf.cast(tf.stack(outputs.lengths, axis=1), tf.int32)
        else:
            counts = tf.reduce_sum(tf.cast(inputs["attention_mask"], tf.int32), axis=1, keepdims=True)
            lengths = tf.tile(counts, [1, self.model.config.num_hidden_layers])
        result = {"logits": logits, "lengths": lengths}
        if self.regression:
            result["score"] = logits[:, 0]
        else:
            label = tf.argmax(logits, axis=-1, output_type=tf.int32)
            result.update(probabilities=tf.nn.softmax(logits, axis=-1), label=label,
                          label_name=tf.gather(self.label_names, label))
        return result

    def signatures(self):
        return {"serving_default": self.text.get_concrete_function(),
                "serving_ids": self.ids.get_concrete_function()}


def save(module, output):
    """Writes the SavedModel to `output` through a temporary folder, so a failed export leaves nothing."""
    with atomic_dir(output) as temporary:
        tf.saved_model.save(module, temporary, signatures=module.signatures())
    return output
