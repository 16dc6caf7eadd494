"""The GLUE submission zip: eleven files with the server's names, headers and row counts."""

import zipfile

from pipeline.glue_submission import OFFICIAL_ROWS, make_submission, submission_entries
from pipeline.paths import TaskDir
from tasks.readers import DataError

import pytest

ROWS = 5  # every small test file below has five rows


def write_test_files(data_dir):
    """Five-row unlabelled test files in GLUE's layout for every task of the submission."""
    pair = "index\tsentence1\tsentence2\n" + "".join(f"{i}\tA {i}.\tB {i}.\n" for i in range(ROWS))
    files = {"SST-2/test.tsv": "index\tsentence\n" + "".join(f"{i}\tgood {i}\n" for i in range(ROWS)),
             "CoLA/test.tsv": "index\tsentence\n" + "".join(f"{i}\tIt rains {i}.\n" for i in range(ROWS)),
             "MRPC/test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n" + "".join(
                 f"{i}\t1\t2\tA {i}.\tB {i}.\n" for i in range(ROWS)),
             "QQP/test.tsv": "id\tquestion1\tquestion2\n" + "".join(f"{i}\tWhy {i}?\tHow {i}?\n" for i in range(ROWS)),
             "QNLI/test.tsv": "index\tquestion\tsentence\n" + "".join(f"{i}\tWho {i}?\tHe {i}.\n" for i in range(ROWS)),
             "STS-B/test.tsv": pair, "RTE/test.tsv": pair, "WNLI/test.tsv": pair,
             "MNLI/test_matched.tsv": pair, "MNLI/test_mismatched.tsv": pair, "diagnostic/diagnostic.tsv": pair}
    for name, text in files.items():
        path = data_dir / "glue" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(data_dir)


def write_predictions(root, stems, rows=ROWS, name="run", backbone="minilm"):
    for stem, task, split in submission_entries():
        if stem not in stems:
            continue
        dirs = TaskDir(backbone, task.name, 42, root=str(root))
        value = "2.500" if task.is_regression else task.label_names[-1]
        path = dirs.log(f"glue_prediction_{name}_{split}.tsv")
        dirs.build()
        with open(path, "w") as handle:
            handle.write("index\tprediction\n" + "".join(f"{i}\t{value}\n" for i in range(rows)))


def test_submission_zip_has_the_eleven_server_files(tmp_path):
    data_dir = write_test_files(tmp_path / "data")
    write_predictions(tmp_path / "directory", OFFICIAL_ROWS)
    output = tmp_path / "submission.zip"
    sources = make_submission(str(output), "minilm", 42, data_dir, root=str(tmp_path / "directory"))
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"{stem}.tsv" for stem in OFFICIAL_ROWS)
        mnli_mm = archive.read("MNLI-mm.tsv").decode().splitlines()
        sts = archive.read("STS-B.tsv").decode().splitlines()
    assert mnli_mm[0] == "index\tprediction" and len(mnli_mm) == ROWS + 1 and mnli_mm[1] == "0\tcontradiction"
    assert sts[1] == "0\t2.500"
    assert sources["AX"].endswith("mnli/logs/glue_prediction_run_ax.tsv")


def test_missing_tasks_are_listed_in_one_message_and_nothing_is_written(tmp_path):
    data_dir = write_test_files(tmp_path / "data")
    write_predictions(tmp_path / "directory", ["SST-2", "CoLA"])
    output = tmp_path / "submission.zip"
    with pytest.raises(DataError) as error:
        make_submission(str(output), "minilm", 42, data_dir, root=str(tmp_path / "directory"))
    message = str(error.value)
    assert message.startswith("No predictions for 9 of 11 GLUE files: MRPC (run_files/run_glue_prediction.py --TASK=mrpc)")
    assert "MNLI-mm (run_files/run_glue_prediction.py --TASK=mnli --SPLIT=test_mismatched)" in message
    assert "AX (run_files/run_glue_prediction.py --TASK=mnli --SPLIT=ax)" in message and "SST-2" not in message
    assert not output.exists()


def test_placeholders_fill_missing_tasks_only_when_asked(tmp_path, data_dir, caplog):
    write_predictions(tmp_path / "directory", ["CoLA"], rows=OFFICIAL_ROWS["CoLA"])
    output = tmp_path / "submission.zip"
    with caplog.at_level("WARNING"):
        sources = make_submission(str(output), "minilm", 42, data_dir, fill_missing=True,
                                  root=str(tmp_path / "directory"))
    assert sources["SST-2"] == "placeholder" and sources["CoLA"] != "placeholder"
    assert "SST-2: no predictions; filled with a majority-class placeholder (1821 rows)" in caplog.text
    with zipfile.ZipFile(output) as archive:
        sst2 = archive.read("SST-2.tsv").decode().splitlines()
        qqp = archive.read("QQP.tsv").decode().splitlines()
    # SST-2's training split has 37,569 positive and 29,780 negative sentences.
    assert len(sst2) == 1822 and set(line.split("\t")[1] for line in sst2[1:]) == {"1"}
    assert len(qqp) == OFFICIAL_ROWS["QQP"] + 1  # no QQP files here: the official count


@pytest.mark.parametrize("rows,body,message", [
    (ROWS - 1, None, "4 predictions, the test set has 5 rows"),
    (ROWS, "index\tprediction\n0\t0\n1\t0\n2\t0\n4\t0\n3\t0\n", r"line 5: expected '3<TAB><label>'"),
    (ROWS, "index\tlabel\n", "the first line must be 'index\\\\tprediction'"),
])
def test_malformed_prediction_files_are_named(tmp_path, rows, body, message):
    data_dir = write_test_files(tmp_path / "data")
    write_predictions(tmp_path / "directory", OFFICIAL_ROWS, rows=rows)
    if body is not None:
        (tmp_path / "directory" / "minilm" / "42" / "sst2" / "logs" / "glue_prediction_run_test.tsv").write_text(body)
    with pytest.raises(DataError, match=message):
        make_submission(str(tmp_path / "s.zip"), "minilm", 42, data_dir, root=str(tmp_path / "directory"))


def test_several_runs_in_one_task_directory_need_a_name(tmp_path):
    data_dir = write_test_files(tmp_path / "data")
    write_predictions(tmp_path / "directory", OFFICIAL_ROWS)
    write_predictions(tmp_path / "directory", ["SST-2"], name="other")
    with pytest.raises(DataError, match=r"several runs for test \(other, run\): choose one with --NAME"):
        make_submission(str(tmp_path / "s.zip"), "minilm", 42, data_dir, root=str(tmp_path / "directory"))
    sources = make_submission(str(tmp_path / "s.zip"), "minilm", 42, data_dir, name="run",
                              root=str(tmp_path / "directory"))
    assert sources["SST-2"].endswith("glue_prediction_run_test.tsv")
