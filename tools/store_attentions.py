"""Per-layer head-averaged [CLS] attention and attention rollout of the best fine-tuned epoch.

    python tools/store_attentions.py --TASK=movie_rationales --SPLIT=test --MAX_LENGTH=256

Writes `data/attn/<split>/attention.npy` and `rollout.npy`, each `[N, L, MAX_LENGTH]` float32
(zero past each example's length), streamed batch by batch to memory-mapped files.
"""

from analysis.attention_maps import cls_attention_maps
from pipeline import cli
from pipeline.atomic import atomic_path
from pipeline.data import batches, num_batches
from pipeline.flags import FLAGS, define_common_flags
from pipeline.paths import SPLIT_FOLDERS

import numpy as np
from absl import flags
from tqdm import tqdm

flags.DEFINE_enum("SPLIT", "test", list(SPLIT_FOLDERS), "Split whose attention maps are stored.")
define_common_flags()


def main(argv):
    del argv
    task = cli.task()
    dirs = cli.task_dir().require()
    encoded = cli.encoded(task, SPLIT_FOLDERS[FLAGS.SPLIT], cli.tokenizer(), FLAGS.EVAL_EXAMPLES)
    model, _ = cli.trained_model(task, dirs, lr_model=False)
    layers = model.config.num_hidden_layers
    folder = dirs.path + f"/data/attn/{FLAGS.SPLIT}"
    shape = (len(encoded), layers, FLAGS.MAX_LENGTH)
    with atomic_path(f"{folder}/attention.npy", ".npy") as raw_path, \
            atomic_path(f"{folder}/rollout.npy", ".npy") as rollout_path:
        raw = np.lib.format.open_memmap(raw_path, mode="w+", dtype=np.float32, shape=shape)
        rolled = np.lib.format.open_memmap(rollout_path, mode="w+", dtype=np.float32, shape=shape)
        for inputs, _, indices in tqdm(batches(encoded, FLAGS.BATCH_SIZE), total=num_batches(encoded, FLAGS.BATCH_SIZE),
                                       desc="attention"):
            attention, rollout = cls_attention_maps(model, inputs)
            width = attention.shape[-1]
            raw[indices, :, :width] = attention.numpy()
            rolled[indices, :, :width] = rollout.numpy()
        raw.flush()
        rolled.flush()
        del raw, rolled
    print(f"{folder}/attention.npy, {folder}/rollout.npy: {shape}")


if __name__ == "__main__":
    cli.run(main)
