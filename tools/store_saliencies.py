"""Stage 2: gradient x input saliencies of the 3 best fine-tuned epochs, one .npy per epoch.

    python tools/store_saliencies.py --TASK=sst2 --SPLIT=train --DATA_DIR=../shared/data

Rows follow the split's order; each array is `[N, MAX_LENGTH]` float32, zero past each example's
length, streamed to a memory-mapped file so memory stays bounded. Runs under --STRATEGY (the
replicas' rows are gathered by example index; only the chief writes).
"""

import _bootstrap  # noqa: F401

import numpy as np
import pipeline  # noqa: F401
from absl import flags

from models.saliency import padded_saliency_step
from pipeline.atomic import atomic_path
from pipeline.distribution import define_distribution_flags, gathered_batches, is_chief
from pipeline.paths import SPLIT_FOLDERS
from pipeline.stage import (FLAGS, build_model, current_task, define_common_flags, load_encoded, ranked_epochs, run,
                            stage_strategy, task_dir, tokenizer)
from tasks.readers import DataError

TOP_EPOCHS = 3

flags.DEFINE_enum("SPLIT", "train", list(SPLIT_FOLDERS), "Split whose saliencies are stored.")
define_common_flags()
define_distribution_flags()


def main(argv):
    del argv
    strategy = stage_strategy()
    task = current_task()
    dirs = task_dir().require()
    split = SPLIT_FOLDERS[FLAGS.SPLIT]
    limit = FLAGS.TRAIN_EXAMPLES if split == "train" else FLAGS.EVAL_EXAMPLES
    encoded = load_encoded(task, split, tokenizer(), limit)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {split} of {task.name} is unlabeled; saliencies need gold labels.")
    with strategy.scope():
        model = build_model(task)
    fn = padded_saliency_step(model, FLAGS.MAX_LENGTH)
    for epoch, epoch_score in ranked_epochs(task, dirs.ft_logs)[:TOP_EPOCHS]:
        model.load_weights(dirs.finetuned_model(epoch))
        rows = gathered_batches(strategy, fn, encoded, FLAGS.BATCH_SIZE, f"epoch {epoch}")
        if not is_chief(strategy):
            for _ in rows:
                pass
            continue
        path = dirs.saliency(FLAGS.SPLIT, epoch)
        with atomic_path(path, suffix=".npy") as temporary:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32,
                                            shape=(len(encoded), FLAGS.MAX_LENGTH))
            for batch in rows:
                out[batch["index"]] = batch["saliency"]
            out.flush()
            del out
        print(f"epoch {epoch} (dev score {epoch_score:.4f}): {path}", flush=True)


if __name__ == "__main__":
    run(main)
