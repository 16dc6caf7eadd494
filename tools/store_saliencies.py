"""Stage 2: gradient x input saliencies of the best fine-tuned epochs (3), one .npy per epoch.

    python tools/store_saliencies.py --TASK=sst2 --SPLIT=train --DATA_DIR=../shared/data

Rows follow the split's order; each array is `[N, MAX_LENGTH]` float32, zero past each example's
length, streamed to a memory-mapped file so memory stays bounded. Runs under --STRATEGY (the
replicas' rows are gathered by example index; only the chief writes).
"""

from models.saliency import padded_saliency_step
from pipeline import cli
from pipeline.atomic import atomic_path
from pipeline.distribution import gathered_batches, is_chief
from pipeline.flags import FLAGS, define_common_flags, define_distribution_flags
from pipeline.loading import SALIENCY_EPOCHS, build_model, ranked_epochs
from pipeline.paths import SPLIT_FOLDERS
from tasks.readers import DataError

import numpy as np
from absl import flags

flags.DEFINE_enum("SPLIT", "train", list(SPLIT_FOLDERS), "Split whose saliencies are stored.")
define_common_flags()
define_distribution_flags()


def main(argv):
    del argv
    strategy = cli.strategy()
    task = cli.task()
    dirs = cli.task_dir().require()
    split = SPLIT_FOLDERS[FLAGS.SPLIT]
    limit = FLAGS.TRAIN_EXAMPLES if split == "train" else FLAGS.EVAL_EXAMPLES
    encoded = cli.encoded(task, split, cli.tokenizer(), limit)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {split} of {task.name} is unlabeled; saliencies need gold labels.")
    with strategy.scope():
        model = build_model(FLAGS.BASE_MODEL, task.num_labels)
    fn = padded_saliency_step(model, FLAGS.MAX_LENGTH)
    for epoch, epoch_score in ranked_epochs(task, dirs)[:SALIENCY_EPOCHS]:
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
    cli.run(main)
