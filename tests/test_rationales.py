"""Rationale metrics against hand computations and scikit-learn; window splitting on real data."""

from analysis.rationale_metrics import average_precision, false_positive_rate, layer_agreement
from models.backbones import load_tokenizer
from tasks.rationales import load_rationale_windows, rationale_documents, rationale_runs, split_windows

import numpy as np
import pytest
from sklearn.metrics import average_precision_score


def test_average_precision_by_hand():
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.1]) == pytest.approx(1 * 0.5 + (2 / 3) * 0.5)
    assert average_precision([0, 1], [0.9, 0.1]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0, 0], [0.3, 0.2]))


@pytest.mark.parametrize("seed", range(6))
def test_average_precision_matches_scikit_learn_with_ties(seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, 40)
    labels[0] = 1
    scores = np.round(rng.rand(40), 1)  # many ties
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))


def test_false_positive_rate_by_hand():
    assert false_positive_rate([1, 0, 0, 0, 1], [1, 1, 0, 0, 0]) == pytest.approx(1 / 3)
    assert np.isnan(false_positive_rate([1, 1], [1, 0]))


def test_layer_agreement_ignores_special_tokens_and_thresholds_at_one_over_n():
    scores = np.array([0.5, 0.3, 0.05, 0.1, 0.05])  # [CLS] a b c [SEP]
    rationale = np.array([0, 1, 0, 0, 0])
    found = layer_agreement(scores, rationale, live_lengths=5)
    assert found["ap"] == pytest.approx(1.0)
    assert found["fpr"] == pytest.approx(0.0)  # 0.1 < 1/5: c is not kept
    found = layer_agreement(scores, rationale, live_lengths=10)
    assert found["fpr"] == pytest.approx(1 / 2)  # 1/10: c (0.1) is kept, b (0.05) is not


def test_split_windows_by_hand():
    mask = [0, 0, 1, 1, 1, 0, 0, 1, 0]
    assert split_windows(mask, 4) == [(0, 2), (2, 6), (6, 9)]
    assert split_windows([1] * 6, 4) == [(0, 4), (4, 6)]  # a run longer than a window is cut


@pytest.mark.parametrize("split", ["validation", "test"])
def test_real_windows_never_cut_a_span_and_keep_every_rationale_token(data_dir, split):
    import json
    import os

    directory = os.path.join(data_dir, "eraser", "movies")
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    windows = load_rationale_windows(rationale_documents("movie_rationales", data_dir, split), tokenizer, max_length=128)
    assert windows and all(len(w.input_ids) <= 128 and w.rationale.any() for w in windows)
    by_doc = {}
    for window in windows:
        by_doc.setdefault(window.doc_id, []).append(window)
    with open(os.path.join(directory, f"{'val' if split == 'validation' else 'test'}.jsonl")) as handle:
        records = [json.loads(line) for line in handle][:40]
    for record in records:
        words = open(os.path.join(directory, "docs", record["annotation_id"])).read().split()
        marked = np.zeros(len(words), bool)
        for group in record["evidences"]:
            for span in group:
                marked[span["start_token"]:span["end_token"]] = True
        encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        pieces = marked[np.array(encoded.word_ids())]
        kept = sum(int(w.rationale.sum()) for w in by_doc[record["annotation_id"]])
        assert kept == pieces.sum()
        runs = rationale_runs(pieces)
        for window in by_doc[record["annotation_id"]]:
            end = window.start + len(window.input_ids) - 2
            for start, stop in runs:
                assert not (start < end < stop) or stop - start > 126
