"""Atomic writes leave either the complete new file or the old one, never a partial file."""

import os

from pipeline.atomic import atomic_path, write_json

import pytest


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    write_json(str(path), {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(str(path)) as temporary:
            with open(temporary, "w") as handle:
                handle.write('{"a": 2, "trunc')
            raise RuntimeError("interrupted")
    assert path.read_text().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert os.listdir(tmp_path) == ["result.json"]


def test_successful_write_replaces_the_file(tmp_path):
    path = tmp_path / "result.json"
    write_json(str(path), {"a": 1})
    write_json(str(path), {"a": 2})
    assert '"a": 2' in path.read_text()
