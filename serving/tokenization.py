"""WordPiece tokenisation inside the TensorFlow graph, matching the backbone's fast tokenizer.

`InGraphTokenizer` turns `[batch]` strings (and, for pair tasks, a second `[batch]`) into the
`input_ids`, `attention_mask` and `token_type_ids` that `BertTokenizerFast(..., truncation=True,
max_length=MAX_LENGTH)` gives, right-padded to the batch's longest example. Pairs are truncated
like the fast tokenizer's `longest_first`: when both texts do not fit, the shorter one (the first
on a tie) keeps at most half the room, the other the rest.
"""

import os

import tensorflow as tf
import tensorflow_text as tf_text


class InGraphTokenizer(tf.Module):
    """The backbone's WordPiece tokenizer as TensorFlow ops (exported with its vocabulary).

    Args:
        vocab_path: The backbone's `vocab.txt`.
        max_length: Longest output ([CLS] and [SEP] included); longer texts are truncated.
        lower_case: Lower-case and strip accents first (the backbone tokenizer's `do_lower_case`).
        cls_id: Id of [CLS].
        sep_id: Id of [SEP].
        name: Module name.
    """

    def __init__(self, vocab_path, max_length, lower_case, cls_id, sep_id, name="tokenizer"):
        super().__init__(name=name)
        if not os.path.isfile(vocab_path):
            raise FileNotFoundError(f"Vocabulary {vocab_path} not found.")
        self.max_length, self.cls_id, self.sep_id = int(max_length), int(cls_id), int(sep_id)
        self.lower_case = bool(lower_case)
        # Normalisation is done here, not by tensorflow-text: its lower_case applies Unicode case
        # *folding* (the micro sign becomes Greek mu), while the backbone's tokenizer lower-cases.
        self.wordpiece = tf_text.BertTokenizer(vocab_path, lower_case=False, token_out_type=tf.int32,
                                               unknown_token="[UNK]")

    @classmethod
    def from_backbone_tokenizer(cls, tokenizer, max_length):
        """The in-graph twin of a `BertTokenizerFast` (its vocabulary, casing and special ids)."""
        vocab_path = os.path.join(tokenizer.name_or_path, "vocab.txt")
        return cls(vocab_path, max_length, tokenizer.do_lower_case, tokenizer.cls_token_id, tokenizer.sep_token_id)

    def normalise(self, text):
        """The fast tokenizer's BertNormalizer: whitespace and control characters, then (uncased
        backbones) lower case and accents stripped (NFD without combining marks)."""
        text = tf.strings.regex_replace(text, r"[\t\n\r]", " ")
        text = tf.strings.regex_replace(text, r"[\p{Cc}\p{Cf}\x{FFFD}]", "")
        if self.lower_case:
            text = tf.strings.lower(text, encoding="utf-8")
            text = tf.strings.regex_replace(tf_text.normalize_utf8(text, "NFD"), r"\p{Mn}", "")
        return text

    def _pieces(self, text):
        return self.wordpiece.tokenize(self.normalise(text)).merge_dims(-2, -1)

    def __call__(self, text, text_pair=None):
        """Ids, attention mask and token types of a batch of texts (or text pairs).

        Args:
            text: `[batch]` string tensor.
            text_pair: Optional `[batch]` string tensor of second texts.

        Returns:
            Dict of `[batch, length]` int32 tensors: `input_ids`, `attention_mask`, `token_type_ids`.
        """
        first = self._pieces(text)
        if text_pair is None:
            segments = [first[:, : self.max_length - 2]]
        else:
            second = self._pieces(text_pair)
            segments = self._truncate_pair(first, second, self.max_length - 3)
        ids, types = tf_text.combine_segments(segments, start_of_sequence_id=self.cls_id, end_of_segment_id=self.sep_id)
        input_ids = ids.to_tensor(0)
        return {
            "input_ids": input_ids,
            "attention_mask": tf.ones_like(ids).to_tensor(0),
            "token_type_ids": tf.cast(types, tf.int32).to_tensor(0),
        }

    @staticmethod
    def _truncate_pair(first, second, budget):
        length_a, length_b = first.row_lengths(), second.row_lengths()
        half = tf.cast(budget // 2, length_a.dtype)
        shorter_a = tf.minimum(length_a, half)
        shorter_b = tf.minimum(length_b, half)
        fits = length_a + length_b <= budget
        keep_a = tf.where(fits, length_a, tf.where(length_a > length_b, budget - shorter_b, shorter_a))
        keep_b = tf.where(fits, length_b, tf.where(length_a > length_b, shorter_b, budget - shorter_a))
        return [_head(first, keep_a), _head(second, keep_b)]


def _head(ragged, counts):
    """The first `counts[i]` values of each row of a ragged `[batch, (n)]` tensor."""
    positions = tf.ragged.range(ragged.row_lengths())
    return tf.ragged.boolean_mask(ragged, positions < tf.expand_dims(counts, 1))
