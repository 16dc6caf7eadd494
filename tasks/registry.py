"""The tasks: splits, labels, metrics, local upstream files and tensorflow-datasets names.

Split names are `train`, `validation` (plus `validation_mismatched` for MNLI), `test`, and the
extra GLUE test splits of MNLI (`test_mismatched`, `ax`). GLUE test splits are unlabeled
(label -1). Tasks without a dev split of their own (AG News, DBpedia, IMDB) hold out a fixed
number of training examples as `validation`, chosen by the data seed, as the original did.
"""

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from tasks.hatexplain import LABELS as HATEXPLAIN_LABELS
from tasks.hatexplain import majority_label, read_hatexplain
from tasks.readers import DataError, Example, read_ag_news, read_dbpedia, read_eraser, read_glue_tsv, read_imdb

import numpy as np

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Task:
    """One classification or regression task.

    Args:
        name: `--TASK` value.
        label_names: Label strings in index order (written to GLUE files); empty for regression.
        metrics: Metric names; the first ranks checkpoints.
        local: `(data_dir, split, **options) -> [Example]` reading the upstream files.
        tfds_name: tensorflow-datasets name used when no `--DATA_DIR` is given.
        tfds_keys: Feature names of the first and second text.
        dev_splits: Evaluation splits (the first ranks checkpoints).
        tfds_splits: Renames of our split names in tensorflow-datasets: a split name, or
            `(dataset, split)` for a split that lives in another dataset (GLUE's AX).
        glue_files: GLUE test splits and the stem of their file in a submission (`{"test": "SST-2"}`).
        held_out: Training examples held out as the validation split (0: the task has its own).
        options: Keyword options the readers take (`tie_rule` for HateXplain).
        tfds_example: `(row, **options) -> Example or None` for tfds rows that need more than two
            text keys and a label.
    """

    name: str
    label_names: tuple
    metrics: tuple
    local: Callable
    tfds_name: str
    tfds_keys: tuple
    dev_splits: tuple = ("validation",)
    tfds_splits: dict = field(default_factory=dict)
    glue_files: dict = field(default_factory=dict)
    held_out: int = 0
    options: tuple = ()
    tfds_example: Optional[Callable] = None

    @property
    def num_labels(self):
        return len(self.label_names) or 1

    @property
    def is_regression(self):
        return not self.label_names

    @property
    def is_pair(self):
        return self.tfds_keys[1] is not None

    @property
    def splits(self):
        return tuple(dict.fromkeys(SPLITS + self.dev_splits + tuple(self.glue_files)))


def _glue(folder, files, text_a, text_b, label, label_names, test_text=None, header=True, columns=None):
    """A local GLUE reader: `files` maps split -> path inside glue/ (a bare name lies in glue/<folder>/)."""
    label_map = {name: index for index, name in enumerate(label_names)} if label_names else None

    def load(data_dir, split):
        name = files[split]
        path = os.path.join(data_dir, "glue", name if "/" in name else os.path.join(folder, name))
        if split.startswith("test") or split == "ax":
            a, b = test_text or (text_a, text_b)
            return read_glue_tsv(path, a, b, None, label_map)
        return read_glue_tsv(path, text_a, text_b, label, label_map, has_header=header, columns=columns)

    return load


_BINARY = ("0", "1")
_NLI2 = ("entailment", "not_entailment")
_NLI3 = ("entailment", "neutral", "contradiction")
_STD = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def _eraser_movies(data_dir, split):
    return read_eraser(os.path.join(data_dir, "eraser", "movies"), split)


def _ag_news(data_dir, split):
    return read_ag_news(os.path.join(data_dir, "ag_news", f"{split}.csv"))


def _dbpedia(data_dir, split):
    return read_dbpedia(os.path.join(data_dir, "dbpedia_csv", f"{split}.csv"))


def _imdb(data_dir, split):
    return read_imdb(os.path.join(data_dir, "aclImdb", split))


def _hatexplain_tfds(row, tie_rule="drop"):
    tokens = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in row["post_tokens"]]
    # The HuggingFace builder stores annotator labels as ids in HATEXPLAIN_LABELS order.
    label = majority_label([int(v) for v in row["annotators"]["label"]], tie_rule)
    return None if label is None else Example(" ".join(tokens), None, label)


TASKS = {
    task.name: task
    for task in [
        Task("sst2", _BINARY, ("accuracy",), _glue("SST-2", _STD, "sentence", None, "label", _BINARY),
             "glue/sst2", ("sentence", None), glue_files={"test": "SST-2"}),
        Task("cola", _BINARY, ("matthews",),
             _glue("CoLA", _STD, 3, None, 1, _BINARY, test_text=("sentence", None), header=False, columns=4),
             "glue/cola", ("sentence", None), glue_files={"test": "CoLA"}),
        Task("mrpc", _BINARY, ("f1", "accuracy"),
             _glue("MRPC", _STD, "#1 String", "#2 String", "Quality", _BINARY), "glue/mrpc",
             ("sentence1", "sentence2"), glue_files={"test": "MRPC"}),
        Task("qqp", _BINARY, ("f1", "accuracy"),
             _glue("QQP", _STD, "question1", "question2", "is_duplicate", _BINARY), "glue/qqp",
             ("question1", "question2"), glue_files={"test": "QQP"}),
        Task("mnli", _NLI3, ("accuracy",),
             _glue("MNLI", {"train": "train.tsv", "validation": "dev_matched.tsv",
                            "validation_mismatched": "dev_mismatched.tsv", "test": "test_matched.tsv",
                            "test_mismatched": "test_mismatched.tsv", "ax": "diagnostic/diagnostic.tsv"},
                   "sentence1", "sentence2", "gold_label", _NLI3),
             "glue/mnli", ("premise", "hypothesis"), dev_splits=("validation", "validation_mismatched"),
             tfds_splits={"validation": "validation_matched", "test": "test_matched", "ax": ("glue/ax", "test")},
             glue_files={"test": "MNLI-m", "test_mismatched": "MNLI-mm", "ax": "AX"}),
        Task("qnli", _NLI2, ("accuracy",), _glue("QNLI", _STD, "question", "sentence", "label", _NLI2),
             "glue/qnli", ("question", "sentence"), glue_files={"test": "QNLI"}),
        Task("rte", _NLI2, ("accuracy",), _glue("RTE", _STD, "sentence1", "sentence2", "label", _NLI2),
             "glue/rte", ("sentence1", "sentence2"), glue_files={"test": "RTE"}),
        Task("wnli", _BINARY, ("accuracy",), _glue("WNLI", _STD, "sentence1", "sentence2", "label", _BINARY),
             "glue/wnli", ("sentence1", "sentence2"), glue_files={"test": "WNLI"}),
        Task("stsb", (), ("pearson", "spearman"), _glue("STS-B", _STD, "sentence1", "sentence2", "score", ()),
             "glue/stsb", ("sentence1", "sentence2"), glue_files={"test": "STS-B"}),
        Task("movie_rationales", ("NEG", "POS"), ("accuracy",), _eraser_movies, "movie_rationales",
             ("review", None)),
        Task("ag_news", ("World", "Sports", "Business", "Sci/Tech"), ("accuracy",), _ag_news,
             "ag_news_subset", ("description", None), held_out=6000),
        Task("dbpedia", ("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder",
                         "MeanOfTransportation", "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album",
                         "Film", "WrittenWork"), ("accuracy",), _dbpedia,
             "huggingface:dbpedia_14", ("content", None), held_out=6000),
        Task("imdb", ("neg", "pos"), ("accuracy",), _imdb, "imdb_reviews", ("text", None), held_out=4096),
        Task("hatexplain", HATEXPLAIN_LABELS, ("accuracy",), read_hatexplain, "huggingface:hatexplain",
             ("post_tokens", None), options=("tie_rule",), tfds_example=_hatexplain_tfds),
    ]
}


def get_task(name):
    if name not in TASKS:
        raise DataError(f"Unknown --TASK {name!r}; known tasks: {', '.join(sorted(TASKS))}.")
    return TASKS[name]


def _from_tfds(task, split, options):
    import tensorflow_datasets as tfds

    first, second = task.tfds_keys
    decode = lambda value: value.decode("utf-8") if isinstance(value, bytes) else str(value)  # noqa: E731
    name, tfds_split = task.tfds_name, task.tfds_splits.get(split, split)
    if isinstance(tfds_split, tuple):
        name, tfds_split = tfds_split
    examples = []
    for row in tfds.as_numpy(tfds.load(name, split=tfds_split, download=True)):
        if task.tfds_example is not None:
            example = task.tfds_example(row, **options)
        else:
            example = Example(decode(row[first]), decode(row[second]) if second else None,
                              float(row["label"]) if task.is_regression else int(row["label"]))
        if example is not None:
            examples.append(example)
    return examples


def held_out_split(examples, count, seed, split, name="task"):
    """Training examples split into `train` and a `validation` of `count` examples chosen by `seed`.

    Both keep the file order; they never overlap and together are all examples.

    Args:
        examples: The whole training source.
        count: Examples held out for validation.
        seed: Chooses which (the data seed).
        split: `train` or `validation`.
        name: Task name for the error message.

    Returns:
        The examples of `split`.
    """
    if len(examples) <= count:
        raise DataError(f"Task {name} has {len(examples)} training examples; {count} are held out for validation, "
                        "so at least one more is needed.")
    chosen = np.zeros(len(examples), bool)
    chosen[np.random.RandomState(seed).permutation(len(examples))[:count]] = True
    keep = chosen if split == "validation" else ~chosen
    return [example for example, kept in zip(examples, keep) if kept]


def load_split(task, split, data_dir=None, seed=42, **options):
    """The examples of one split, from `data_dir` when given, else from tensorflow-datasets.

    Args:
        task: A `Task`.
        split: One of `task.splits`.
        data_dir: Folder holding the upstream layouts (`glue/`, `eraser/`, `ag_news/`, `dbpedia_csv/`,
            `aclImdb/`, `hatexplain/`).
        seed: Data seed; chooses the held-out validation examples of tasks without a dev split.
        **options: Reader options named in `task.options` (others are ignored).

    Returns:
        List of `Example`.
    """
    if split not in task.splits:
        raise DataError(f"Task {task.name} has no split {split!r} (it has {', '.join(task.splits)}).")
    options = {key: value for key, value in options.items() if key in task.options}
    held = bool(task.held_out) and split in ("train", "validation")
    source = "train" if held else split
    examples = task.local(data_dir, source, **options) if data_dir else _from_tfds(task, source, options)
    if held:
        examples = held_out_split(examples, task.held_out, seed, split, task.name)
    if not examples:
        raise DataError(f"Task {task.name}, split {split}: no examples.")
    return examples
