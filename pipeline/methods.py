"""The comparison methods' checkpoints: what a run records beside its `.h5`, and loading it back.

A method's run (`run_files/run_baseline.py`) writes `models/baselines/<METHOD>_<SAVE_NAME>.h5` and,
beside it, `<METHOD>_<SAVE_NAME>.json`: the method, its settings and what it learned (the student's
teacher layers, the kept length, the pruner's configuration). Loading needs both.
"""

import json
import os

from models.backbones import resolve_backbone
from models.ltp import LTPPruner
from models.modeling_tf_bert import TFBertPruningForSequenceClassification
from models.power_bert import PoWERBertPruner
from models.tr_bert import TRBertPruner
from pipeline import loading
from pipeline.atomic import write_json
from tasks.readers import DataError

import tensorflow as tf
from transformers import BertConfig

BASELINES = ("layer_drop", "truncation", "power_bert", "ltp", "tr_bert")
METHODS = ("adapler", *BASELINES)
PRUNERS = {"power_bert": PoWERBertPruner, "ltp": LTPPruner, "tr_bert": TRBertPruner}


def record_path(checkpoint):
    """The JSON record beside a method's checkpoint."""
    return os.path.splitext(checkpoint)[0] + ".json"


def write_record(checkpoint, record):
    write_json(record_path(checkpoint), record)


def read_record(checkpoint, method):
    """The record of a method's checkpoint, checked to be that method's."""
    path = record_path(checkpoint)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: a {method} checkpoint needs the record run_baseline.py writes "
                                "beside it.")
    with open(path) as handle:
        try:
            record = json.load(handle)
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not valid JSON ({error}).") from None
    if record.get("method") != method:
        raise DataError(f"{checkpoint} is a {record.get('method')!r} checkpoint, not --METHOD={method}.")
    return record


def pruning_model(backbone, num_labels, method, pruner_config):
    """The pruning classifier of `method` with its pruner attached (weights: the backbone's)."""
    model = loading.build_model(backbone, num_labels, model_class=TFBertPruningForSequenceClassification)
    return model.attach_pruner(PRUNERS[method].from_config(pruner_config))


def load_method(method, backbone, num_labels, checkpoint, strategy=None):
    """The model of a method's checkpoint and its record (empty for AdapLeR and plain checkpoints).

    Args:
        method: One of `METHODS`.
        backbone: `--BASE_MODEL` the run started from.
        num_labels: Classifier outputs.
        checkpoint: The `.h5` file.
        strategy: Build under this `tf.distribute.Strategy` (default: the current one).

    Returns:
        `(model, record)`.
    """
    if method == "adapler":
        return loading.load_trained(backbone, num_labels, checkpoint, strategy), {}
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"Checkpoint not found: {checkpoint}")
    record = read_record(checkpoint, method)
    with (strategy or tf.distribute.get_strategy()).scope():
        if method == "layer_drop":
            model = loading.build_model(backbone, num_labels, num_hidden_layers=len(record["layers"]))
        elif method in PRUNERS:
            model = pruning_model(backbone, num_labels, method, record["pruner"])
        else:
            model = loading.build_model(backbone, num_labels)
        model.load_weights(checkpoint)
    return model, record


def input_length(record, max_length):
    """The length a method's model reads: the kept length of `truncation`, else `max_length`."""
    return min(record.get("keep_length", max_length), max_length)


def backbone_config(backbone):
    """The backbone's config: the plain model every method's FLOPs are compared with."""
    return BertConfig.from_pretrained(resolve_backbone(backbone))
