"""Readers of the upstream file formats: GLUE TSVs, ERASER jsonl + docs/, AG News and DBpedia csv,
IMDB's aclImdb folders (HateXplain: `tasks/hatexplain.py`).

Each reader returns a list of `Example`s and raises `DataError` naming the file and row for
anything malformed (missing columns, empty text, unknown label).
"""

import csv
import json
import os
from dataclasses import dataclass
from typing import Optional, Union

UNLABELED = -1


class DataError(ValueError):
    """A data file is missing or malformed."""


@dataclass
class Example:
    text_a: str
    text_b: Optional[str]
    label: Union[int, float]


def require_file(path):
    if not os.path.isfile(path):
        raise DataError(f"Data file not found: {path}")
    return path


def _text(value, path, row):
    if value is None or not value.strip():
        raise DataError(f"{path}, row {row}: empty text.")
    return value.strip()


def read_tsv_rows(path, has_header=True):
    """Rows of a GLUE TSV as dicts (header files) or lists; a UTF-8 BOM is dropped."""
    with open(require_file(path), encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not has_header:
        return [(number + 1, row) for number, row in enumerate(rows)]
    if not rows:
        raise DataError(f"{path}: empty file, expected a header line.")
    header = rows[0]
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}, row {number}: {len(row)} columns, the header has {len(header)}.")
        out.append((number, dict(zip(header, row))))
    return out


def read_glue_tsv(path, text_a, text_b=None, label=None, label_map=None, has_header=True, columns=None):
    """Reads a GLUE TSV into `Example`s.

    Args:
        path: The file.
        text_a: Column of the first text (name, or index for header-less files).
        text_b: Column of the second text, if a pair task.
        label: Column of the label; None for unlabeled test files.
        label_map: Maps label strings to ints; None means float labels (regression).
        has_header: False for CoLA's header-less train/dev.
        columns: Expected column count of header-less files.

    Returns:
        List of `Example`.
    """
    examples = []
    for number, row in read_tsv_rows(path, has_header):
        if columns is not None and len(row) != columns:
            raise DataError(f"{path}, row {number}: {len(row)} columns, expected {columns}.")
        try:
            first = _text(row[text_a], path, number)
            second = _text(row[text_b], path, number) if text_b is not None else None
            raw = row[label] if label is not None else None
        except KeyError as missing:
            raise DataError(f"{path}: no column {missing}.") from None
        if raw is None:
            value = UNLABELED
        elif label_map is None:
            try:
                value = float(raw)
            except ValueError:
                raise DataError(f"{path}, row {number}: label {raw!r} is not a number.") from None
        elif raw in label_map:
            value = label_map[raw]
        else:
            raise DataError(f"{path}, row {number}: unknown label {raw!r} (expected one of {sorted(label_map)}).")
        examples.append(Example(first, second, value))
    return examples


ERASER_SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}
ERASER_LABELS = {"NEG": 0, "POS": 1}


def eraser_records(directory, split):
    """Yields `(record, review text, jsonl path)` for each review of an ERASER split, checked.

    Args:
        directory: The ERASER `movies/` folder (`<split>.jsonl` annotations and `docs/`).
        split: `train`, `validation` or `test`.
    """
    path = require_file(os.path.join(directory, f"{ERASER_SPLIT_FILES[split]}.jsonl"))
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                doc = os.path.join(directory, "docs", record["annotation_id"])
                if record["classification"] not in ERASER_LABELS:
                    raise KeyError(record["classification"])
            except (json.JSONDecodeError, KeyError) as error:
                raise DataError(f"{path}, line {number}: malformed record ({error}).") from None
            with open(require_file(doc), encoding="utf-8") as review:
                yield record, _text(review.read(), doc, 1), path


def read_eraser(directory, split):
    """ERASER movie reviews as `Example`s (NEG = 0, POS = 1)."""
    return [Example(text, None, ERASER_LABELS[record["classification"]])
            for record, text, _ in eraser_records(directory, split)]


def read_class_csv(path, classes, text="title and body"):
    """Header-less csv rows `class,title,body` with classes 1..`classes` (mapped to 0..`classes`-1).

    Args:
        path: AG News or DBpedia `train.csv` / `test.csv`.
        classes: Number of classes.
        text: `title and body` (AG News, as before) or `body` (DBpedia: the original classifies `content`).

    Returns:
        List of `Example`.
    """
    valid = {str(c) for c in range(1, classes + 1)}
    examples = []
    with open(require_file(path), encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 3 or row[0] not in valid:
                raise DataError(f"{path}, row {number}: expected class 1-{classes}, title, body.")
            title, body = row[1].strip(), row[2].strip()
            value = f"{title} {body}".strip() if text == "title and body" else body
            examples.append(Example(_text(value, path, number), None, int(row[0]) - 1))
    return examples


def read_ag_news(path):
    """AG News csv rows `class,title,description` with classes 1-4 (mapped to 0-3)."""
    return read_class_csv(path, 4)


def read_dbpedia(path):
    """DBpedia-14 csv rows `class,title,content` with classes 1-14; the text is `content`."""
    return read_class_csv(path, 14, text="body")


IMDB_LABELS = {"neg": 0, "pos": 1}


def read_imdb(directory):
    """IMDB reviews from `aclImdb/<split>/{neg,pos}/<id>_<rating>.txt`, negatives first, by file id.

    Args:
        directory: `aclImdb/train` or `aclImdb/test`.

    Returns:
        List of `Example` (neg = 0, pos = 1); HTML line breaks become spaces.
    """
    examples = []
    for folder, label in IMDB_LABELS.items():
        path = os.path.join(directory, folder)
        if not os.path.isdir(path):
            raise DataError(f"Data folder not found: {path}")
        names = [name for name in os.listdir(path) if name.endswith(".txt")]
        for name in sorted(names, key=lambda n: (int(n.split("_")[0]) if n.split("_")[0].isdigit() else -1, n)):
            with open(os.path.join(path, name), encoding="utf-8") as handle:
                review = handle.read().replace("<br />", " ")
            examples.append(Example(_text(review, os.path.join(path, name), 1), None, label))
    return examples
