"""What the stages read back: tokenised splits, fine-tuning records, saliencies and trained checkpoints."""

import json
import os

from models.backbones import resolve_backbone
from models.checkpoints import describe_h5
from models.modeling_tf_bert import TFBertForSequenceClassification
from pipeline.data import encode
from tasks.readers import DataError
from tasks.registry import load_split

import numpy as np
import tensorflow as tf

# Stage 2 stores the saliencies of the best fine-tuned epochs; stage 3 trains on their mean.
SALIENCY_EPOCHS = 3


def load_encoded(task, split, tokenizer, max_length, data_dir=None, seed=42, limit=0, tie_rule="drop"):
    """A tokenised split, cut to its first `limit` examples when `limit` > 0.

    Args:
        task: The task.
        split: Split name.
        tokenizer: The backbone's tokenizer.
        max_length: Truncation length.
        data_dir: Local upstream files (None = tensorflow-datasets).
        seed: Data seed (held-out validation splits depend on it).
        limit: Keep the first N examples (0 = all).
        tie_rule: HateXplain's rule for posts without a majority label.

    Returns:
        An `Encoded` split.
    """
    examples = load_split(task, split, data_dir or None, seed=seed, tie_rule=tie_rule)
    if limit:
        examples = examples[:limit]
    return encode(examples, tokenizer, max_length)


def build_model(backbone, num_labels, model_class=TFBertForSequenceClassification, **config):
    """The backbone (a name `resolve_backbone` knows) with a fresh classifier head.

    Args:
        backbone: `--BASE_MODEL`.
        num_labels: Classifier outputs.
        model_class: `TFBertForSequenceClassification` or a subclass (the pruning classifier).
        **config: Config overrides, e.g. `num_hidden_layers` for a smaller student.
    """
    return model_class.from_pretrained(resolve_backbone(backbone), num_labels=num_labels, **config)


def load_trained(backbone, num_labels, checkpoint, strategy=None):
    """The model of a `.h5` checkpoint, an AdapLeR one when the file holds AdapLeR's weights.

    Args:
        backbone: The backbone the checkpoint was trained from.
        num_labels: Classifier outputs.
        checkpoint: The `.h5` file.
        strategy: Build under this `tf.distribute.Strategy` (default: the current one).

    Returns:
        The model with the checkpoint's weights.
    """
    adapler = describe_h5(checkpoint)["is_adapler"]
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(backbone, num_labels)
        if adapler:
            model.to_AdapLeR()
        model.load_weights(checkpoint)
    return model


def read_ft_logs(path):
    """Stage-1 records `[{"epoch": e, "<split>": {metric: value}}, ...]`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run the fine-tuning stage first.")
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error}).") from None


def ranked_epochs(task, dirs):
    """Fine-tuned epochs ranked by the first metric of the first dev split, best first: `[(epoch, score)]`."""
    records = read_ft_logs(dirs.ft_logs)
    if not records:
        raise DataError(f"{dirs.ft_logs} holds no epochs.")
    split, metric = task.dev_splits[0], task.metrics[0]
    ranked = sorted(records, key=lambda r: r[split][metric], reverse=True)
    return [(r["epoch"], r[split][metric]) for r in ranked]


def best_finetuned(task, dirs):
    """`(checkpoint, dev score)` of the best fine-tuned epoch of a task directory."""
    epoch, value = ranked_epochs(task, dirs)[0]
    return dirs.finetuned_model(epoch), value


def load_saliencies(task, dirs, count, max_length):
    """Mean of the stored saliency arrays of the best fine-tuned epochs, checked against the training split.

    Args:
        task: The task.
        dirs: Its `TaskDir`.
        count: Examples of the training split.
        max_length: `--MAX_LENGTH` of the run.

    Returns:
        `[count, max_length]` float32.
    """
    arrays = []
    for epoch, _ in ranked_epochs(task, dirs)[:SALIENCY_EPOCHS]:
        path = dirs.saliency("train", epoch)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: run tools/store_saliencies.py --SPLIT=train first.")
        try:
            values = np.load(path, mmap_mode="r")
        except ValueError as error:
            raise DataError(f"{path} is not a readable .npy file ({error}).") from None
        if values.shape != (count, max_length):
            raise DataError(
                f"{path} has shape {values.shape} but the training split gives ({count}, {max_length}): "
                "it was stored for another --MAX_LENGTH or --TRAIN_EXAMPLES; rerun tools/store_saliencies.py."
            )
        arrays.append(values)
    return np.mean(arrays, axis=0).astype(np.float32)
