"""The batch-1 loop over one graph per encoder layer, with the token drop done between graphs in NumPy.

NumPy only, so a runtime's runner (`serving.layerwise.LayerwiseLiteRT`, `serving.onnx_runtime.LayerwiseOnnx`)
needs no TensorFlow at serving time. The pieces are those of `serving.layerwise.LayerwiseModule`.
"""

import numpy as np


class LayerwiseRunner:
    """Runs the pieces of a classifier at batch 1, keeping each piece's surviving tokens for the next.

    Args:
        start: Called as `start(input_ids=, token_type_ids=)` with `[1, n]` int32 arrays; returns `hidden` and,
            for AdapLeR, `keep` (`[1, n]`, 1 for the tokens layer 1 computes).
        blocks: One per layer but the last, called as `block(hidden=, acc_mask=)`; return `hidden` (the layer's
            output) and, for AdapLeR, `keep` for the next layer.
        last: Called as `last(hidden=)`; returns `logits`.
    """

    def __init__(self, start, blocks, last):
        self.start, self.blocks, self.last = start, list(blocks), last

    def __call__(self, input_ids, token_type_ids):
        """`{"logits": [1, K], "lengths": [1, L]}` (lengths empty for a plain model) for one example."""
        out = self.start(input_ids=np.asarray(input_ids, np.int32), token_type_ids=np.asarray(token_type_ids, np.int32))
        hidden = out["hidden"]
        # [CLS] is kept by the rule, not by its score, so the accumulated mask leaves it out (as in the model).
        acc_mask = np.ones(hidden.shape[:2], np.float32)
        acc_mask[:, 0] = 0.0
        lengths = []
        for block in self.blocks + [None]:
            if "keep" in out:
                kept = np.flatnonzero(out["keep"][0])
                hidden, acc_mask = hidden[:, kept], acc_mask[:, kept]
                lengths.append(acc_mask.sum() + 1.0)
            if block is None:
                break
            out = block(hidden=hidden, acc_mask=acc_mask)
            hidden = out["hidden"]
        logits = self.last(hidden=hidden)["logits"]
        return {"logits": logits, "lengths": np.array([lengths], np.float32)}
