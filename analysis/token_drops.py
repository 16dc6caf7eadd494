"""Which tokens each layer of an AdapLeR model still sees."""

import numpy as np


def drop_map(model, encoded):
    """`[L, T]` CP scores of the tokens entering each layer, NaN where a token was already removed."""
    outputs = model(encoded, lr_mode=True, output_explanations=True)
    scores = np.stack([e.numpy()[0] for e in outputs.explanations])
    entering = np.ones_like(scores, bool)
    for layer in range(1, len(scores)):
        entering[layer] = entering[layer - 1] & (scores[layer] > 0)
    return np.where(entering, scores, np.nan), [float(n[0]) for n in outputs.lengths]


def typical_examples(encoded, count=3, min_length=8):
    """Indices of `count` examples of typical length: the quartiles (for 3) of the lengths, in split order among
    equal lengths, leaving out examples shorter than `min_length` tokens (nothing to remove)."""
    eligible = np.flatnonzero(encoded.lengths >= min_length)
    eligible = eligible[np.argsort(encoded.lengths[eligible], kind="stable")]
    positions = np.linspace(0, len(eligible) - 1, count + 2)[1:-1].round().astype(int)
    return eligible[positions].tolist()


def plot_drops(axis, tokens, scores, lengths, title):
    """A heat map of `drop_map` output on `axis`: CP scores, removed tokens grey, each layer's length."""
    from analysis.plotting import plt

    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#dddddd")
    image = axis.imshow(np.ma.masked_invalid(scores), cmap=cmap, aspect="auto")
    axis.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(scores)), [f"layer {i + 1} (n={n:g})" for i, n in enumerate(lengths)], fontsize=8)
    axis.set_title(title, fontsize=9)
    return image
