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
