"""Analytic FLOPs of BERT, AdapLeR and the token-pruning methods from the model config (docs/method.md, section 4).

Counted the way TensorFlow's profiler counts the real graph: a matmul is `2 m n k`, an
element-wise op one per output element, softmax five per element, LayerNorm `9 d + 3` per
token (moments, rsqrt, scale and shift), GELU four per element (its erf is not counted), tanh
nothing. For BERT-base this agrees with the original's fitted constants within 0.1%.
"""

import numpy as np

# Per-element cost of the activations as the profiler counts their TF graphs.
ACTIVATION_FLOPS = {"gelu": 4, "gelu_new": 4, "relu": 0}
# Element-wise ops per token a CP adds around its two dense layers: softmax (5), the [CLS]
# support mask and renormalisation (3), the THETA rescaling (3) and the threshold test (3).
CP_EXTRA_PER_TOKEN = 14


def _activation(config):
    return ACTIVATION_FLOPS.get(config.hidden_act if isinstance(config.hidden_act, str) else "gelu", 4)


def dense_flops(tokens, fan_in, fan_out):
    """Matmul plus bias of a dense layer applied to `tokens` vectors."""
    return tokens * (2 * fan_in * fan_out + fan_out)


def layer_norm_flops(tokens, width):
    return tokens * (9 * width + 3)


def attention_core_flops(n, config):
    """Scores, weighting, scaling, mask, stabiliser and softmax of self-attention on n tokens."""
    return 4 * config.hidden_size * n**2 + 8 * config.num_attention_heads * n**2


def attention_block_flops(config, n):
    """A layer's attention block on n tokens: Q, K, V and output projections, the attention core, the
    residual add and its LayerNorm."""
    d = config.hidden_size
    return 4 * dense_flops(n, d, d) + attention_core_flops(n, config) + layer_norm_flops(n, d) + n * d


def feed_forward_block_flops(config, n):
    """A layer's feed-forward block on n tokens: both dense layers, the activation, the residual add and
    its LayerNorm."""
    d, ff = config.hidden_size, config.intermediate_size
    return (dense_flops(n, d, ff) + _activation(config) * n * ff + dense_flops(n, ff, d) + layer_norm_flops(n, d)
            + n * d)


def encoder_layer_flops(config, n):
    """One transformer layer on n tokens."""
    return attention_block_flops(config, n) + feed_forward_block_flops(config, n)


def embedding_flops(config, n):
    """Sum of the three embeddings and their LayerNorm (lookups cost nothing)."""
    return 2 * n * config.hidden_size + layer_norm_flops(n, config.hidden_size)


def head_flops(config, num_labels):
    """Pooler dense on [CLS] and the classifier."""
    d = config.hidden_size
    return dense_flops(1, d, d) + dense_flops(1, d, num_labels)


def contribution_predictor_flops(config, n, units=32):
    """One CP scoring n tokens."""
    return dense_flops(n, config.hidden_size, units) + _activation(config) * n * units + dense_flops(
        n, units, 1
    ) + CP_EXTRA_PER_TOKEN * n


def bert_flops(config, n, num_labels):
    """FLOPs of the plain classifier on one example of n tokens (n may be a numpy array).

    Args:
        config: The backbone's `BertConfig`.
        n: Unpadded length ([CLS] and [SEP] included).
        num_labels: Number of classifier outputs.

    Returns:
        FLOPs (float or array like n).
    """
    n = np.asarray(n, dtype=np.float64)
    layers = config.num_hidden_layers
    return embedding_flops(config, n) + layers * encoder_layer_flops(config, n) + head_flops(config, num_labels)


def adapler_flops(config, layer_lengths, num_labels, input_length=None, cp_units=32):
    """FLOPs of AdapLeR on one example given the tokens entering each layer.

    CP_i scores the tokens left before layer i (the input for i = 0) and layer i runs on
    `layer_lengths[i]` tokens.

    Args:
        config: The backbone's `BertConfig`.
        layer_lengths: `L` live lengths ([CLS] included), e.g. `outputs.lengths` of one example.
            A `[N, L]` array gives one result per example.
        num_labels: Number of classifier outputs.
        input_length: Unpadded input length (defaults to `layer_lengths[0]`).
        cp_units: Width of the CP hidden layer.

    Returns:
        FLOPs (float, or `[N]` array).
    """
    lengths = np.asarray(layer_lengths, dtype=np.float64)
    if lengths.shape[-1] != config.num_hidden_layers:
        raise ValueError(
            f"Got {lengths.shape[-1]} layer lengths for a model with {config.num_hidden_layers} layers."
        )
    first = lengths[..., 0] if input_length is None else np.asarray(input_length, dtype=np.float64)
    scored = np.concatenate([first[..., None], lengths[..., :-1]], axis=-1)
    return (
        embedding_flops(config, first)
        + np.sum(contribution_predictor_flops(config, scored, cp_units), axis=-1)
        + np.sum(encoder_layer_flops(config, lengths), axis=-1)
        + head_flops(config, num_labels)
    )


def speedup(baseline_flops, adapler_flops_):
    """Ratio of total FLOPs over a split (not a mean of per-example ratios)."""
    return float(np.sum(baseline_flops) / np.sum(adapler_flops_))


def attention_significance_flops(config, n):
    """Scoring n tokens by the attention they receive (PoWER-BERT, LTP): the sum over heads and query rows,
    the normalisation and the comparison with the threshold or the rank."""
    return config.num_attention_heads * n**2 + 3 * n


def policy_flops(config, n, units=32):
    """TR-BERT's policy scoring n tokens: its two dense layers, the GELU, the sigmoid and the 0.5 test."""
    return dense_flops(n, config.hidden_size, units) + _activation(config) * n * units + dense_flops(n, units, 1) + 2 * n


def pruned_flops(config, attention_lengths, ffn_lengths, num_labels, input_length, scorer_flops=0.0):
    """FLOPs of a model that removes tokens inside its layers (PoWER-BERT, LTP) or before them (AdapLeR, TR-BERT).

    Layer i's attention block runs on the tokens entering it, its feed-forward block on the tokens
    left after the layer's removal; a method that removes before the layer has both equal.

    Args:
        config: The backbone's `BertConfig` (its layer count is the model's).
        attention_lengths: `[N, L]` tokens entering each layer, [CLS] included.
        ffn_lengths: `[N, L]` tokens each layer's feed-forward block runs on.
        num_labels: Classifier outputs.
        input_length: `[N]` unpadded input lengths (the embeddings' work).
        scorer_flops: `[N]` (or scalar) FLOPs of the method's own scoring.

    Returns:
        `[N]` FLOPs.
    """
    attention = np.asarray(attention_lengths, dtype=np.float64)
    ffn = np.asarray(ffn_lengths, dtype=np.float64)
    if attention.shape[-1] != config.num_hidden_layers or ffn.shape != attention.shape:
        raise ValueError(f"Got lengths of shape {attention.shape} and {ffn.shape} for a model with "
                         f"{config.num_hidden_layers} layers.")
    return (embedding_flops(config, np.asarray(input_length, dtype=np.float64))
            + np.sum(attention_block_flops(config, attention), axis=-1)
            + np.sum(feed_forward_block_flops(config, ffn), axis=-1)
            + head_flops(config, num_labels) + scorer_flops)


def model_flops(model, num_labels, input_lengths, outputs=None):
    """Per-example FLOPs of a classifier as it ran: plain (any layer count), AdapLeR or a pruning model.

    Args:
        model: The model (its config gives the layer count).
        num_labels: Classifier outputs.
        input_lengths: `[N]` unpadded lengths the model read.
        outputs: For a model that removes tokens, a dict with `lengths` (`[N, L]`, tokens entering each
            layer) and `kept_lengths` (`[N, L]`, tokens each feed-forward block ran on).

    Returns:
        `[N]` FLOPs.
    """
    config = model.config
    if not model.removes_tokens:
        return bert_flops(config, input_lengths, num_labels)
    if model.is_adapler:
        return adapler_flops(config, outputs["lengths"], num_labels, input_length=input_lengths)
    lengths = np.asarray(outputs["lengths"], dtype=np.float64)
    pruner = model.bert.encoder.pruner
    if pruner.before_layer:
        # A policy before layer p scores the tokens layer p - 1 left.
        scorer = np.sum(policy_flops(config, lengths[..., [p - 1 for p in pruner.points]], pruner.units), axis=-1)
    else:
        scorer = np.sum(attention_significance_flops(config, lengths), axis=-1)
    return pruned_flops(config, lengths, outputs["kept_lengths"], num_labels, input_lengths, scorer)


def truncation_length(config, lengths, num_labels, target_speedup):
    """The longest length a cut to which gives at least `target_speedup` in FLOPs over `lengths` (bisection).

    Args:
        config: The backbone's config.
        lengths: `[N]` unpadded lengths (the training split's).
        num_labels: Classifier outputs.
        target_speedup: The speedup wanted (above 1).

    Returns:
        `(length, speedup)`: the kept length ([CLS] and [SEP] included, at least 3) and the speedup it gives.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    baseline = np.sum(bert_flops(config, lengths, num_labels))

    def gain(keep):
        return float(baseline / np.sum(bert_flops(config, np.minimum(lengths, keep), num_labels)))

    low, high = 3, int(lengths.max())
    if gain(low) < target_speedup:
        return low, gain(low)
    while low < high:  # the largest length whose gain reaches the target
        middle = (low + high + 1) // 2
        if gain(middle) >= target_speedup:
            low = middle
        else:
            high = middle - 1
    return low, gain(low)
