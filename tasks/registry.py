"""The tasks: splits, labels, metrics, local upstream files and tensorflow-datasets names.

Split names are `train`, `validation` (plus `validation_mismatched` for MNLI) and `test`.
GLUE test splits are unlabeled (label -1).
"""

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from tasks.readers import DataError, read_ag_news, read_eraser, read_glue_tsv

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Task:
    """One classification or regression task.

    Args:
        name: `--TASK` value.
        label_names: Label strings in index order (written to GLUE files); empty for regression.
        metrics: Metric names; the first ranks checkpoints.
        local: `(data_dir, split) -> [Example]` reading the upstream files.
        tfds_name: tensorflow-datasets name used when no `--DATA_DIR` is given.
        tfds_keys: Feature names of the first and second text.
        dev_splits: Evaluation splits (the first ranks checkpoints).
        tfds_splits: Renames of our split names in tensorflow-datasets.
        glue_name: File stem of the GLUE submission, for GLUE tasks.
    """

    name: str
    label_names: tuple
    metrics: tuple
    local: Callable
    tfds_name: str
    tfds_keys: tuple
    dev_splits: tuple = ("validation",)
    tfds_splits: dict = field(default_factory=dict)
    glue_name: Optional[str] = None

    @property
    def num_labels(self):
        return len(self.label_names) or 1

    @property
    def is_regression(self):
        return not self.label_names


def _glue(folder, files, text_a, text_b, label, label_names, test_text=None, header=True, columns=None):
    """A local GLUE reader: `files` maps split -> file name inside glue/<folder>/."""
    label_map = {name: index for index, name in enumerate(label_names)} if label_names else None

    def load(data_dir, split):
        path = os.path.join(data_dir, "glue", folder, files[split])
        if split.startswith("test"):
            a, b = test_text or (text_a, text_b)
            return read_glue_tsv(path, a, b, None, label_map)
        return read_glue_tsv(path, text_a, text_b, label, label_map, has_header=header, columns=columns)

    return load


_BINARY = ("0", "1")
_NLI2 = ("entailment", "not_entailment")
_STD = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def _eraser_movies(data_dir, split):
    return read_eraser(os.path.join(data_dir, "eraser", "movies"), split)


def _ag_news(data_dir, split):
    # AG News ships train and test only; its test split doubles as the evaluation split.
    return read_ag_news(os.path.join(data_dir, "ag_news", "train.csv" if split == "train" else "test.csv"))


TASKS = {
    task.name: task
    for task in [
        Task("sst2", _BINARY, ("accuracy",), _glue("SST-2", _STD, "sentence", None, "label", _BINARY),
             "glue/sst2", ("sentence", None), glue_name="SST-2"),
        Task("cola", _BINARY, ("matthews",),
             _glue("CoLA", _STD, 3, None, 1, _BINARY, test_text=("sentence", None), header=False, columns=4),
             "glue/cola", ("sentence", None), glue_name="CoLA"),
        Task("mrpc", _BINARY, ("f1", "accuracy"),
             _glue("MRPC", _STD, "#1 String", "#2 String", "Quality", _BINARY), "glue/mrpc",
             ("sentence1", "sentence2"), glue_name="MRPC"),
        Task("qqp", _BINARY, ("f1", "accuracy"),
             _glue("QQP", _STD, "question1", "question2", "is_duplicate", _BINARY), "glue/qqp",
             ("question1", "question2"), glue_name="QQP"),
        Task("mnli", ("entailment", "neutral", "contradiction"), ("accuracy",),
             _glue("MNLI", {"train": "train.tsv", "validation": "dev_matched.tsv",
                            "validation_mismatched": "dev_mismatched.tsv", "test": "test_matched.tsv"},
                   "sentence1", "sentence2", "gold_label", ("entailment", "neutral", "contradiction")),
             "glue/mnli", ("premise", "hypothesis"), dev_splits=("validation", "validation_mismatched"),
             tfds_splits={"validation": "validation_matched", "test": "test_matched"}, glue_name="MNLI-m"),
        Task("qnli", _NLI2, ("accuracy",), _glue("QNLI", _STD, "question", "sentence", "label", _NLI2),
             "glue/qnli", ("question", "sentence"), glue_name="QNLI"),
        Task("rte", _NLI2, ("accuracy",), _glue("RTE", _STD, "sentence1", "sentence2", "label", _NLI2),
             "glue/rte", ("sentence1", "sentence2"), glue_name="RTE"),
        Task("stsb", (), ("pearson", "spearman"), _glue("STS-B", _STD, "sentence1", "sentence2", "score", ()),
             "glue/stsb", ("sentence1", "sentence2"), glue_name="STS-B"),
        Task("movie_rationales", ("NEG", "POS"), ("accuracy",), _eraser_movies, "movie_rationales",
             ("review", None)),
        Task("ag_news", ("World", "Sports", "Business", "Sci/Tech"), ("accuracy",), _ag_news,
             "ag_news_subset", ("description", None), tfds_splits={"validation": "test"}),
        Task("imdb", ("neg", "pos"), ("accuracy",), None, "imdb_reviews", ("text", None),
             tfds_splits={"validation": "test"}),
    ]
}


def get_task(name):
    if name not in TASKS:
        raise DataError(f"Unknown --TASK {name!r}; known tasks: {', '.join(sorted(TASKS))}.")
    return TASKS[name]


def _from_tfds(task, split):
    import tensorflow_datasets as tfds

    from tasks.readers import Example

    first, second = task.tfds_keys
    decode = lambda value: value.decode("utf-8") if isinstance(value, bytes) else str(value)  # noqa: E731
    dataset = tfds.as_numpy(tfds.load(task.tfds_name, split=task.tfds_splits.get(split, split), download=True))
    return [
        Example(decode(row[first]), decode(row[second]) if second else None,
                float(row["label"]) if task.is_regression else int(row["label"]))
        for row in dataset
    ]


def load_split(task, split, data_dir=None):
    """The examples of one split, from `data_dir` when given, else from tensorflow-datasets.

    Args:
        task: A `Task`.
        split: `train`, `validation`, `validation_mismatched` (MNLI) or `test`.
        data_dir: Folder holding `glue/`, `eraser/`, `ag_news/` in their upstream layouts.

    Returns:
        List of `Example`.
    """
    if split not in SPLITS + task.dev_splits:
        raise DataError(f"Task {task.name} has no split {split!r}.")
    if data_dir:
        if task.local is None:
            raise DataError(f"Task {task.name} has no local reader; leave --DATA_DIR empty to use tensorflow-datasets.")
        examples = task.local(data_dir, split)
    else:
        examples = _from_tfds(task, split)
    if not examples:
        raise DataError(f"Task {task.name}, split {split}: no examples.")
    return examples


