"""Task loaders on the real upstream files, their error messages, and the metrics."""

import json

from models.backbones import load_tokenizer
from pipeline.data import batches, encode, example_order, length_grouped_order
from tasks.metrics import compute
from tasks.rationales import load_rationale_windows, rationale_documents
from tasks.readers import DataError, read_ag_news
from tasks.registry import get_task, load_split
from tests.upstream_files import write_hatexplain

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

UPSTREAM_SIZES = [
    ("sst2", "train", 67349), ("sst2", "validation", 872), ("sst2", "test", 1821),
    ("cola", "train", 8551), ("cola", "validation", 1043), ("cola", "test", 1063),
    ("mrpc", "train", 3668), ("mrpc", "validation", 408), ("mrpc", "test", 1725),
    ("rte", "train", 2490), ("rte", "validation", 277), ("rte", "test", 3000),
    ("stsb", "train", 5749), ("stsb", "validation", 1500), ("stsb", "test", 1379),
    ("qnli", "validation", 5463), ("qnli", "test", 5463),
    ("movie_rationales", "train", 1600), ("movie_rationales", "validation", 200), ("movie_rationales", "test", 199),
]


@pytest.mark.parametrize("name,split,size", UPSTREAM_SIZES)
def test_local_split_sizes_match_upstream(data_dir, name, split, size):
    task = get_task(name)
    examples = load_split(task, split, data_dir)
    assert len(examples) == size
    labels = np.array([e.label for e in examples])
    if split == "test" and task.glue_files:
        assert (labels == -1).all()
    elif task.is_regression:
        assert labels.min() >= 0 and labels.max() <= 5
    else:
        assert set(labels) == set(range(task.num_labels))


@pytest.mark.parametrize("name", ["mrpc", "rte", "stsb", "qnli"])
def test_pairs_are_tokenized_as_pairs(data_dir, name):
    examples = load_split(get_task(name), "validation", data_dir)[:4]
    assert all(e.text_b for e in examples)
    encoded = encode(examples, load_tokenizer("all-MiniLM-L6-v2"), max_length=128)
    for ids, types in zip(encoded.input_ids, encoded.token_type_ids):
        assert list(ids).count(102) == 2  # [SEP] after each segment
        assert types[0] == 0 and types[-1] == 1


def test_mrpc_header_bom_is_handled(data_dir):
    assert load_split(get_task("mrpc"), "validation", data_dir)[0].label in (0, 1)


def test_mnli_reads_the_upstream_layout(tmp_path):
    folder = tmp_path / "glue" / "MNLI"
    folder.mkdir(parents=True)
    header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
    rows = ["0\t1\t1a\tfiction\tA man sleeps.\tA person rests.\tentailment\tentailment\n",
            "1\t2\t2a\tfiction\tA dog runs.\tA cat sits.\tcontradiction\tcontradiction\n",
            "2\t3\t3a\tslate\tIt rains.\tIt is Monday.\tneutral\tneutral\n"]
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        (folder / name).write_text(header + "".join(rows))
    (folder / "test_matched.tsv").write_text("index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n"
                                            "0\t1\t1a\tfiction\tA man sleeps.\tA person rests.\n")
    task = get_task("mnli")
    assert [e.label for e in load_split(task, "validation_mismatched", str(tmp_path))] == [0, 2, 1]
    assert load_split(task, "test", str(tmp_path))[0].label == -1


def test_ag_news_classes_one_to_four_become_zero_to_three(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('"3","Wall St. Bears","Short-sellers are seeing green."\n"1","Title","Body"\n')
    assert [e.label for e in read_ag_news(str(path))] == [2, 0]
    path.write_text('"5","Title","Body"\n')
    with pytest.raises(DataError, match="train.csv, row 1"):
        read_ag_news(str(path))


def _write_dbpedia(root, rows):
    folder = root / "dbpedia_csv"
    folder.mkdir(parents=True, exist_ok=True)
    # Upstream quotes every field; a BOM and commas inside quotes must survive.
    lines = [f'{label},"Title {i}","Content {i}, with a comma"' for i, label in enumerate(rows)]
    (folder / "train.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    (folder / "test.csv").write_text('14,"Moby-Dick","A novel, by Herman Melville."\n1,"Acme","A company."\n')


def test_dbpedia_classifies_content_and_holds_out_6000_training_rows_by_seed(tmp_path):
    _write_dbpedia(tmp_path, [i % 14 + 1 for i in range(6020)])
    task = get_task("dbpedia")
    test = load_split(task, "test", str(tmp_path))
    assert [(e.text_a, e.label) for e in test] == [("A novel, by Herman Melville.", 13), ("A company.", 0)]
    train, dev = (load_split(task, split, str(tmp_path), seed=22) for split in ("train", "validation"))
    assert (len(train), len(dev)) == (20, 6000)
    assert not {e.text_a for e in train} & {e.text_a for e in dev}
    assert train[0].text_a.startswith("Content") and train[0].label == int(train[0].text_a.split()[1].rstrip(",")) % 14
    other = load_split(task, "validation", str(tmp_path), seed=23)
    assert [e.text_a for e in dev] == [e.text_a for e in load_split(task, "validation", str(tmp_path), seed=22)]
    assert {e.text_a for e in other} != {e.text_a for e in dev}


def test_a_held_out_split_needs_more_rows_than_it_holds_out(tmp_path):
    _write_dbpedia(tmp_path, [1] * 100)
    with pytest.raises(DataError, match="dbpedia has 100 training examples; 6000 are held out"):
        load_split(get_task("dbpedia"), "train", str(tmp_path))


def test_imdb_reads_the_acl_imdb_folders_and_holds_out_4096(tmp_path):
    for split, count in (("train", 2060), ("test", 3)):
        for polarity in ("neg", "pos"):
            folder = tmp_path / "aclImdb" / split / polarity
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i}_{7 if polarity == 'pos' else 2}.txt").write_text(f"{polarity} review {i}<br />end")
    task = get_task("imdb")
    test = load_split(task, "test", str(tmp_path))
    assert [(e.text_a, e.label) for e in test[:2]] == [("neg review 0 end", 0), ("neg review 1 end", 0)]
    assert [e.label for e in test] == [0, 0, 0, 1, 1, 1]
    train, dev = (load_split(task, split, str(tmp_path)) for split in ("train", "validation"))
    assert (len(train), len(dev)) == (24, 4096)
    assert not {e.text_a for e in train} & {e.text_a for e in dev}


def test_hatexplain_majority_labels_and_ties(tmp_path, caplog):
    data_dir, task = write_hatexplain(tmp_path), get_task("hatexplain")
    with caplog.at_level("INFO"):
        train = load_split(task, "train", data_dir)
    assert [(e.text_a, task.label_names[e.label]) for e in train] == [
        ("they are vermin", "hatespeech"), ("nice day", "normal"), ("shut up idiot", "offensive")]
    assert "hatexplain train: 1 of 4 posts have no majority label; dropped as undecided" in caplog.text
    original = load_split(task, "train", data_dir, tie_rule="original")
    assert [task.label_names[e.label] for e in original] == ["hatespeech", "normal", "hatespeech", "offensive"]
    assert len(load_split(task, "validation", data_dir)) == 1
    assert [e.text_a for e in load_split(task, "test", data_dir, tie_rule="original")] == ["go away", "a tie here"]


def test_hatexplain_token_rationales_are_the_annotators_majority(tmp_path):
    documents = rationale_documents("hatexplain", write_hatexplain(tmp_path), "train")
    masks = {doc_id: list(mask) for doc_id, _, mask, _ in documents}
    assert masks == {"p1_twitter": [0, 0, 1], "p2_gab": [1, 0], "p4_twitter": [1, 1, 1]}
    windows = load_rationale_windows(documents, load_tokenizer("all-MiniLM-L6-v2"), max_length=16)
    assert [w.doc_id for w in windows] == ["p1_twitter", "p2_gab", "p4_twitter"]
    assert all(w.rationale[0] == 0 and w.rationale[-1] == 0 for w in windows)


@pytest.mark.parametrize("change,message", [
    (lambda d: d["p1_twitter"]["annotators"][0].update(label="rude"),
     r"post p1_twitter: labels \[.rude.\] \(expected hatespeech, normal, offensive\)"),
    (lambda d: d["p1_twitter"].pop("post_tokens"), "post p1_twitter: missing 'post_tokens'"),
    (lambda d: d["p1_twitter"]["rationales"][0].append(1), r"post p1_twitter: rationales of lengths \[3, 4\] for 3 tokens"),
])
def test_malformed_hatexplain_posts_are_named(tmp_path, change, message):
    data_dir = write_hatexplain(tmp_path)
    path = tmp_path / "hatexplain" / "dataset.json"
    dataset = json.loads(path.read_text())
    change(dataset)
    path.write_text(json.dumps(dataset))
    with pytest.raises(DataError, match=message):
        load_split(get_task("hatexplain"), "train", data_dir)


def test_hatexplain_rows_from_the_huggingface_builder(tmp_path):
    convert = get_task("hatexplain").tfds_example
    row = {"post_tokens": [b"go", b"away"], "annotators": {"label": [2, 2, 0]}}
    assert convert(row).text_a == "go away" and convert(row).label == 2
    tie = {"post_tokens": [b"a"], "annotators": {"label": [0, 1, 2]}}
    assert convert(tie) is None and convert(tie, tie_rule="original").label == 0


def test_mnli_test_splits_and_the_diagnostic_set(tmp_path):
    folder = tmp_path / "glue" / "MNLI"
    folder.mkdir(parents=True)
    header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n"
    (folder / "test_mismatched.tsv").write_text(header + "0\t1\t1a\tletters\tA.\tB.\n1\t2\t2a\tletters\tC.\tD.\n")
    (tmp_path / "glue" / "diagnostic").mkdir()
    (tmp_path / "glue" / "diagnostic" / "diagnostic.tsv").write_text("index\tsentence1\tsentence2\n0\tX.\tY.\n")
    task = get_task("mnli")
    assert [(e.text_a, e.text_b, e.label) for e in load_split(task, "test_mismatched", str(tmp_path))] == [
        ("A.", "B.", -1), ("C.", "D.", -1)]
    assert [(e.text_a, e.text_b) for e in load_split(task, "ax", str(tmp_path))] == [("X.", "Y.")]
    with pytest.raises(DataError, match="Task sst2 has no split 'ax'"):
        load_split(get_task("sst2"), "ax", str(tmp_path))


def _sst2_copy(tmp_path, train_text):
    folder = tmp_path / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text(train_text)
    return str(tmp_path)


@pytest.mark.parametrize("text,message", [
    ("sentence\tlabel\ngood movie\t1\n \t0\n", r"train.tsv, row 3: empty text"),
    ("sentence\tlabel\ngood movie\t1\nbad\t0\textra\n", r"train.tsv, row 3: 3 columns, the header has 2"),
    ("sentence\tlabel\ngood movie\t7\n", r"train.tsv, row 2: unknown label '7'"),
])
def test_malformed_files_name_the_file_and_row(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        load_split(get_task("sst2"), "train", _sst2_copy(tmp_path, text))


def test_missing_file_and_unknown_task():
    with pytest.raises(DataError, match="Data file not found: /nonexistent/glue/SST-2/train.tsv"):
        load_split(get_task("sst2"), "train", "/nonexistent")
    with pytest.raises(DataError, match="Unknown --TASK 'sst3'"):
        get_task("sst3")


def test_metrics_match_scikit_learn_and_scipy():
    rng = np.random.RandomState(0)
    labels, predictions = rng.randint(0, 2, 50), rng.randint(0, 2, 50)
    got = compute(("f1", "accuracy", "matthews"), labels, predictions)
    assert got["f1"] == pytest.approx(f1_score(labels, predictions))
    assert got["matthews"] == pytest.approx(matthews_corrcoef(labels, predictions))
    assert got["accuracy"] == pytest.approx(np.mean(labels == predictions))
    scores = rng.rand(30) * 5
    noisy = scores + rng.rand(30)
    got = compute(("pearson", "spearman"), scores, noisy)
    assert got["pearson"] == pytest.approx(pearsonr(scores, noisy)[0])
    assert got["spearman"] == pytest.approx(spearmanr(scores, noisy)[0])


def test_batches_pad_per_batch_and_keep_indices(data_dir):
    examples = load_split(get_task("sst2"), "validation", data_dir)[:10]
    encoded = encode(examples, load_tokenizer("all-MiniLM-L6-v2"), max_length=64)
    seen = []
    for inputs, labels, indices in batches(encoded, 4, shuffle_seed=3):
        width = inputs["input_ids"].shape[1]
        assert width == max(len(encoded.input_ids[i]) for i in indices)
        np.testing.assert_array_equal(inputs["attention_mask"].numpy().sum(1), [len(encoded.input_ids[i]) for i in indices])
        np.testing.assert_array_equal(labels, encoded.labels[indices])
        seen.extend(indices)
    assert sorted(seen) == list(range(10)) and seen != list(range(10))


def test_length_grouped_order_visits_every_example_once_and_pads_less(data_dir):
    encoded = encode(load_split(get_task("sst2"), "train", data_dir)[:1000], load_tokenizer("all-MiniLM-L6-v2"), 64)
    grouped = length_grouped_order(encoded, 3, 32, window=10)
    assert sorted(grouped.tolist()) == list(range(1000))

    def padded_tokens(order):
        return sum(encoded.lengths[order[i:i + 32]].max() * len(order[i:i + 32]) for i in range(0, 1000, 32))

    plain = example_order(encoded, shuffle_seed=3)
    assert padded_tokens(grouped) < 0.75 * padded_tokens(plain)
    assert np.array_equal(grouped, length_grouped_order(encoded, 3, 32, window=10))
    assert not np.array_equal(grouped, length_grouped_order(encoded, 4, 32, window=10))
    # Batches are shuffled too: the first batches are not simply the shortest of the first window.
    firsts = encoded.lengths[grouped[:320]].reshape(10, 32).max(1)
    assert not np.all(np.diff(firsts) >= 0)
