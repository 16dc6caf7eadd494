"""Which tokens survive which layer: a heat map of CP scores with removed tokens greyed out.

    python tools/visualize_drops.py --TASK=sst2 --SAVE_NAME=quickstart --MAX_LENGTH=64 --TEXT="a gorgeous, witty film"

Uses the task directory's AdapLeR checkpoint (or --MODEL_PATH) with hard removal.
"""

import _bootstrap  # noqa: F401

import numpy as np
import pipeline  # noqa: F401
from absl import flags

from analysis.token_drops import drop_map
from pipeline.atomic import atomic_path
from pipeline.stage import (FLAGS, current_task, define_adapler_name_flags, define_common_flags, run, task_dir,
                            tokenizer, trained_model)
from tasks.readers import DataError

flags.DEFINE_string("TEXT", None, "Text to analyse.")
flags.DEFINE_string("TEXT_B", None, "Second text, for pair tasks.")
flags.DEFINE_string("MODEL_PATH", "", "AdapLeR checkpoint; empty = the task directory's default.")
flags.DEFINE_string("OUTPUT", "token_drops.png", "PNG to write.")
flags.mark_flag_as_required("TEXT")
define_adapler_name_flags()
define_common_flags()


def main(argv):
    del argv
    if not FLAGS.TEXT.strip():
        raise DataError("--TEXT is empty.")
    task = current_task()
    model, _ = trained_model(task, task_dir().require(), lr_model=True, model_path=FLAGS.MODEL_PATH)
    tok = tokenizer()
    encoded = tok(FLAGS.TEXT, FLAGS.TEXT_B, truncation=True, max_length=FLAGS.MAX_LENGTH, return_tensors="tf")
    tokens = tok.convert_ids_to_tokens(encoded["input_ids"][0].numpy())
    scores, lengths = drop_map(model, encoded)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(max(6, 0.45 * len(tokens)), 0.5 * len(scores) + 1.5))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#dddddd")
    image = axis.imshow(np.ma.masked_invalid(scores), cmap=cmap, aspect="auto")
    axis.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right", fontsize=9)
    axis.set_yticks(range(len(scores)), [f"layer {i + 1} (n={n:g})" for i, n in enumerate(lengths)], fontsize=9)
    axis.set_title("CP score of each token before each layer (grey: removed earlier; n: tokens the layer runs on)",
                   fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.03)
    figure.tight_layout()
    with atomic_path(FLAGS.OUTPUT, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110)
    print(f"{FLAGS.OUTPUT}: {len(tokens)} tokens, lengths per layer {lengths}")


if __name__ == "__main__":
    run(main)
