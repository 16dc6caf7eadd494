"""Stage 2: gradient x input saliencies of the 3 best fine-tuned epochs, one .npy per epoch.

    python tools/store_saliencies.py --TASK=sst2 --SPLIT=train --DATA_DIR=../shared/data

Rows follow the split's order; each array is `[N, MAX_LENGTH]` float32, zero past each example's
length, streamed to a memory-mapped file so memory stays bounded.
"""

import _bootstrap  # noqa: F401

import numpy as np
import pipeline  # noqa: F401
import tensorflow as tf
from absl import flags
from tqdm import tqdm

from models.saliency import saliency_step
from pipeline.atomic import atomic_path
from pipeline.data import batches, num_batches
from pipeline.paths import SPLIT_FOLDERS
from pipeline.stage import (FLAGS, build_model, current_task, define_common_flags, load_encoded, ranked_epochs, run,
                            task_dir, tokenizer)
from tasks.readers import DataError

TOP_EPOCHS = 3

flags.DEFINE_enum("SPLIT", "train", list(SPLIT_FOLDERS), "Split whose saliencies are stored.")
define_common_flags()


def main(argv):
    del argv
    task = current_task()
    dirs = task_dir().require()
    split = SPLIT_FOLDERS[FLAGS.SPLIT]
    limit = FLAGS.TRAIN_EXAMPLES if split == "train" else FLAGS.EVAL_EXAMPLES
    encoded = load_encoded(task, split, tokenizer(), limit)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {split} of {task.name} is unlabeled; saliencies need gold labels.")
    model = build_model(task)
    saliency = tf.function(lambda inputs, labels: saliency_step(model, inputs, labels), reduce_retracing=True)
    for epoch, epoch_score in ranked_epochs(task, dirs.ft_logs)[:TOP_EPOCHS]:
        model.load_weights(dirs.finetuned_model(epoch))
        path = dirs.saliency(FLAGS.SPLIT, epoch)
        with atomic_path(path, suffix=".npy") as temporary:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32,
                                            shape=(len(encoded), FLAGS.MAX_LENGTH))
            for inputs, labels, indices in tqdm(batches(encoded, FLAGS.BATCH_SIZE),
                                                total=num_batches(encoded, FLAGS.BATCH_SIZE), desc=f"epoch {epoch}"):
                values = saliency(inputs, tf.constant(labels)).numpy()
                out[indices, : values.shape[1]] = values
            out.flush()
            del out
        print(f"epoch {epoch} (dev score {epoch_score:.4f}): {path}", flush=True)


if __name__ == "__main__":
    run(main)
