"""Documents with human rationales (ERASER movie reviews, HateXplain) as windows of word-pieces
with rationale masks (docs/method.md, section 5)."""

import os
from dataclasses import dataclass

from tasks.hatexplain import posts
from tasks.readers import ERASER_LABELS, DataError, eraser_records

import numpy as np

RATIONALE_TASKS = ("movie_rationales", "hatexplain")


@dataclass
class RationaleWindow:
    """One window: `[CLS] pieces [SEP]` ids, rationale mask on the same positions (0 on specials)."""

    doc_id: str
    start: int
    input_ids: np.ndarray
    rationale: np.ndarray
    label: int


def rationale_runs(mask):
    """`(start, end)` of each maximal run of ones in a 0/1 mask (end exclusive)."""
    padded = np.concatenate([[0], np.asarray(mask, np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def split_windows(mask, width):
    """Consecutive windows of at most `width` positions that do not cut a rationale run.

    A window that would end inside a run ends where that run starts instead, unless the run
    started at the window's own start (a run longer than a window has to be cut).

    Args:
        mask: 0/1 rationale mask over a document's word-pieces.
        width: Largest window size.

    Returns:
        List of `(start, end)`.
    """
    mask = np.asarray(mask)
    starts = np.zeros(len(mask), np.int64)
    for start, end in rationale_runs(mask):
        starts[start:end] = start
    windows, start = [], 0
    while start < len(mask):
        end = min(start + width, len(mask))
        if end < len(mask) and mask[end - 1] and mask[end] and starts[end - 1] > start:
            end = starts[end - 1]
        windows.append((start, end))
        start = end
    return windows


def _word_mask(words, evidences, path):
    mask = np.zeros(len(words), np.int8)
    for group in evidences:
        for span in group:
            start, end = span["start_token"], span["end_token"]
            if not 0 <= start <= end <= len(words):
                raise DataError(f"{path}: span {start}-{end} of {span['docid']} is outside its {len(words)} tokens.")
            mask[start:end] = 1
    return mask


def rationale_documents(task_name, data_dir, split, tie_rule="drop"):
    """`(doc_id, words, word-level 0/1 rationale mask, label)` of every document of a split.

    Args:
        task_name: `movie_rationales` (ERASER evidence spans) or `hatexplain` (token rationales,
            marked by at least half of the annotators who gave one; `normal` posts have none).
        data_dir: Folder holding `eraser/movies/` or `hatexplain/`.
        split: `train`, `validation` or `test`.
        tie_rule: HateXplain's rule for posts without a majority label.

    Returns:
        A list of tuples.
    """
    if task_name == "movie_rationales":
        directory = os.path.join(data_dir, "eraser", "movies")
        documents = []
        for record, text, path in eraser_records(directory, split):
            words = text.split()
            documents.append((record["annotation_id"], words, _word_mask(words, record["evidences"], path),
                              ERASER_LABELS[record["classification"]]))
        return documents
    if task_name == "hatexplain":
        return [(post_id, tokens, mask, label) for post_id, tokens, label, mask in posts(data_dir, split, tie_rule)]
    raise DataError(f"--TASK {task_name} has no human rationales; use one of {', '.join(RATIONALE_TASKS)}.")


def load_rationale_windows(documents, tokenizer, max_length):
    """Windows of `max_length - 2` word-pieces with rationales, for every document.

    Args:
        documents: `(doc_id, words, word mask, label)` tuples (see `rationale_documents`).
        tokenizer: A fast BERT tokenizer.
        max_length: Model input length ([CLS] and [SEP] included).

    Returns:
        List of `RationaleWindow`, windows without any rationale left out.
    """
    windows = []
    for doc_id, words, word_mask, label in documents:
        encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        ids = np.array(encoded["input_ids"], np.int32)
        if not len(ids):
            continue
        piece_mask = word_mask[np.array(encoded.word_ids())]
        for start, end in split_windows(piece_mask, max_length - 2):
            if not piece_mask[start:end].any():
                continue
            windows.append(RationaleWindow(
                doc_id, start,
                np.concatenate([[tokenizer.cls_token_id], ids[start:end], [tokenizer.sep_token_id]]).astype(np.int32),
                np.concatenate([[0], piece_mask[start:end], [0]]).astype(np.int8),
                label,
            ))
    return windows
