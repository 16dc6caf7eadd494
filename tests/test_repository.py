"""The repository's shape: a short README whose links resolve, docs in the project's own words, and scripts that
sit on top of the library (no path edits, no script importing another)."""

import ast
import glob
import os
import re

from pipeline.paths import REPO

import pytest

DOCS = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
LIBRARY = ("models", "tasks", "pipeline", "serving", "analysis")
SCRIPTS = ("run_files", "tools", "benchmarks")


def python_files(*folders):
    return sorted(os.path.relpath(p, REPO) for folder in folders for p in glob.glob(os.path.join(REPO, folder, "*.py")))


def imported_modules(path):
    tree = ast.parse(open(os.path.join(REPO, path)).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_the_readme_is_a_users_readme():
    assert os.path.getsize(os.path.join(REPO, "README.md")) < 10_000


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_resolves(doc):
    text = open(os.path.join(REPO, doc)).read()
    links = [link for link in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", link)]
    missing = [link for link in links
               if not os.path.exists(os.path.join(REPO, os.path.dirname(doc), link.split("#")[0]))]
    assert not missing, f"{doc} links to {missing}"


def test_no_file_points_to_a_specification_outside_the_repository():
    files = DOCS + python_files(*LIBRARY, *SCRIPTS, "tests") + ["run.sh", "directory/build_task_dirs.sh"]
    offenders = [path for path in files if path != "tests/test_repository.py"
                 and "SPEC.md" in open(os.path.join(REPO, path)).read()]
    assert not offenders


@pytest.mark.parametrize("path", python_files(*LIBRARY, *SCRIPTS, "tests"))
def test_nothing_edits_sys_path(path):
    assert not re.search(r"sys\.path\s*(\.|\[|=)", open(os.path.join(REPO, path)).read())


@pytest.mark.parametrize("path", python_files(*LIBRARY, *SCRIPTS))
def test_scripts_and_the_library_import_no_script(path):
    scripts = [name for name in imported_modules(path) if name.split(".")[0] in SCRIPTS]
    assert not scripts, f"{path} imports {scripts}"


@pytest.mark.parametrize("path", python_files(*LIBRARY))
def test_lower_layers_import_no_higher_one(path):
    # models and tasks are the base; pipeline builds on them; serving and analysis on all three.
    allowed = {"models": {"models"}, "tasks": {"tasks", "models"}, "pipeline": {"models", "tasks", "pipeline"},
               "serving": set(LIBRARY) - {"analysis"}, "analysis": set(LIBRARY) - {"serving"}}
    package = path.split(os.sep)[0]
    wrong = [name for name in imported_modules(path) if name.split(".")[0] in LIBRARY
             and name.split(".")[0] not in allowed[package]]
    assert not wrong, f"{path} imports {wrong}"


@pytest.mark.parametrize("path", python_files("tests"))
def test_tests_reach_scripts_only_through_subprocesses(path):
    assert not [name for name in imported_modules(path) if name.split(".")[0] in SCRIPTS]
