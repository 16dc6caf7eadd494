"""Loading an exported SavedModel and calling it with checked inputs.

`tf.saved_model.load(path).signatures["serving_default"]` works as is once `tensorflow_text` is
imported (it registers the tokenizer's ops). A loaded signature reports a wrong dtype only as
"input #0 was expected to be a string tensor"; `load` returns a callable that names the input.
"""

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the in-graph tokenizer's ops)


class ExportedClassifier:
    """`classifier(text, text_pair=None)` on an exported SavedModel's `serving_default`.

    Args:
        path: The SavedModel folder written by `tools/export_model.py`.
    """

    def __init__(self, path):
        self.signature = tf.saved_model.load(path).signatures["serving_default"]
        self.inputs = sorted(self.signature.structured_input_signature[1])

    @property
    def is_pair(self):
        return "text_pair" in self.inputs

    def __call__(self, text, text_pair=None):
        """Outputs of the model for a batch of texts (and second texts for pair tasks).

        Args:
            text: A list of strings (or a `[batch]` string tensor).
            text_pair: The second texts; required exactly when the model classifies pairs.

        Returns:
            Dict of numpy arrays: `logits`, `lengths`, and `probabilities`, `label`, `label_name`
            (classification) or `score` (regression).

        Raises:
            ValueError: naming the input that is missing, superfluous, not strings or of another size.
        """
        if self.is_pair and text_pair is None:
            raise ValueError("text_pair is missing: this model classifies sentence pairs.")
        if not self.is_pair and text_pair is not None:
            raise ValueError("text_pair given, but this model classifies single texts.")
        inputs = {"text": _strings("text", text)}
        if self.is_pair:
            inputs["text_pair"] = _strings("text_pair", text_pair)
            if inputs["text_pair"].shape[0] != inputs["text"].shape[0]:
                raise ValueError(f"text_pair has {inputs['text_pair'].shape[0]} entries, text has "
                                 f"{inputs['text'].shape[0]}.")
        return {key: value.numpy() for key, value in self.signature(**inputs).items()}


def _strings(name, values):
    if isinstance(values, str):
        raise ValueError(f"{name} must be a list of strings (a batch), not one string.")
    tensor = tf.convert_to_tensor(values) if not tf.is_tensor(values) else values
    if tensor.dtype != tf.string or tensor.shape.rank != 1:
        raise ValueError(f"{name} must be a [batch] string tensor; got {tensor.dtype.name} of shape {tensor.shape}.")
    return tensor


def load(path):
    """An `ExportedClassifier` for the SavedModel at `path`."""
    return ExportedClassifier(path)
