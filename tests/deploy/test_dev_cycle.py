"""tools/dev_cycle.py, run for real on a temporary git repository with a tiny package and tests.

Each fake test appends its name to a log file, so the tests check which tests really ran (and in
which order), not only what the table says.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.dev_cycle import mapped_tests, module_name

ROOT = Path(__file__).resolve().parents[2]
DEV_CYCLE = ROOT / "tools" / "dev_cycle.py"
LOG_TEST = """
import os
from pathlib import Path


def log(name):
    with Path(os.environ["DEV_CYCLE_LOG"]).open("a") as f:
        f.write(name + "\\n")
"""
FILES = {
    "pkg/__init__.py": "",
    "pkg/probes/__init__.py": "",
    "pkg/probes/tcp.py": "def port():\n    return 443\n",
    "pkg/other.py": "def name():\n    return 'other'\n",
    "tests/logbook.py": LOG_TEST,
    # mapped by the naming rule: pkg/probes/tcp.py -> tests/pkg/test_tcp.py
    "tests/pkg/test_tcp.py": ("from tests.logbook import log\nfrom pkg.probes.tcp import port\n\n\n"
                              "def test_port():\n    log('test_tcp')\n    assert port() == 443\n"),
    # mapped because it imports the changed module
    "tests/pkg/test_client.py": ("from tests.logbook import log\nfrom pkg.probes import tcp\n\n\n"
                                 "def test_client():\n    log('test_client')\n    assert tcp.port() > 0\n"),
    # not mapped to tcp.py
    "tests/pkg/test_other.py": ("from tests.logbook import log\nfrom pkg.other import name\n\n\n"
                                "def test_other():\n    log('test_other')\n    assert name() == 'other'\n"),
}


# Ways a test reaches a module other than importing it (mapping only; these never run).
REACHING = {
    "pkg/deep.py": "DEPTH = 3\n",
    "pkg/middle.py": "from .deep import DEPTH\n",  # relative, one step removed
    "pkg/runner.py": "import importlib\n\ndef main():\n    importlib.import_module('pkg.other')\n",
    "pkg/__main__.py": "from pkg.runner import main\n\nmain()\n",
    "tools/child.py": "def lazy():\n    from pkg.probes import tcp\n    return tcp\n",
    "tests/pkg/test_chain.py": "from tests.pkg.helper import VALUE\n",
    "tests/pkg/helper.py": "from pkg.middle import DEPTH as VALUE\n",
    "tests/pkg/test_child.py": "CMD = ['python', '-m', 'pkg', 'go']\n",
    "tests/pkg/test_script.py": "SCRIPT = 'tools/child.py'\n",
    "tests/other/conftest.py": "from pkg.deep import DEPTH\n",
    "tests/other/test_fixture_user.py": "def test_x():\n    pass\n",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, FILES)


def make_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return repo


def dev_cycle(repo: Path, *args: str) -> tuple[int, str, list[str]]:
    """Exit status, output and the names of the tests that ran, in order."""
    log = repo.parent / "ran.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # The fake repo needs no plugin but xdist; the project's plugins take seconds to import.
    env.update(DEV_CYCLE_LOG=str(log), COLUMNS="200", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTEST_PLUGINS="xdist.plugin")
    done = subprocess.run([sys.executable, str(DEV_CYCLE), *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    ran = log.read_text().split() if log.exists() else []
    return done.returncode, done.stdout + done.stderr, ran


@pytest.mark.parametrize("changed, expected", [
    ("pkg/probes/tcp.py", ["tests/pkg/test_client.py", "tests/pkg/test_tcp.py"]),
    ("pkg/other.py", ["tests/pkg/test_other.py"]),
    ("pkg/probes/__init__.py", ["tests/pkg/test_client.py", "tests/pkg/test_tcp.py"]),
    ("tests/pkg/test_other.py", ["tests/pkg/test_other.py"]),
    ("tests/logbook.py", ["tests/pkg/test_client.py", "tests/pkg/test_other.py",
                          "tests/pkg/test_tcp.py"]),
    ("tests/pkg/conftest.py", ["tests/pkg/test_client.py", "tests/pkg/test_other.py",
                               "tests/pkg/test_tcp.py"]),
    ("setup.py", []),
])
def test_the_mapping_rule_picks_the_named_test_and_direct_importers(repo, changed, expected):
    assert [str(p) for p in mapped_tests(repo, [Path(changed)])] == expected


@pytest.mark.parametrize("changed, expected", [
    # deep <- middle <- tests/pkg/helper <- test_chain; deep <- tests/other/conftest <- its tests
    ("pkg/deep.py", ["tests/other/test_fixture_user.py", "tests/pkg/test_chain.py"]),
    # other <- runner (a dotted string) <- __main__ <- `-m pkg` in test_child
    ("pkg/other.py", ["tests/pkg/test_child.py", "tests/pkg/test_other.py"]),
    # tcp <- tools/child.py (an import inside a function) <- a path literal in test_script
    ("pkg/probes/tcp.py", ["tests/pkg/test_client.py", "tests/pkg/test_script.py",
                           "tests/pkg/test_tcp.py"]),
    ("tests/pkg/helper.py", ["tests/pkg/test_chain.py"]),
    ("pkg/__init__.py", ["tests/other/test_fixture_user.py", "tests/pkg/test_chain.py",
                         "tests/pkg/test_child.py", "tests/pkg/test_client.py",
                         "tests/pkg/test_other.py", "tests/pkg/test_script.py",
                         "tests/pkg/test_tcp.py"]),
])
def test_a_change_maps_to_every_test_file_that_reaches_it_transitively(tmp_path, changed,
                                                                         expected):
    repo = make_repo(tmp_path, FILES | REACHING)
    assert [str(p) for p in mapped_tests(repo, [Path(changed)])] == expected


def test_a_string_that_only_looks_dotted_reaches_nothing(tmp_path):
    repo = make_repo(tmp_path, FILES | {"tests/pkg/test_host.py": "HOST = 'pkg.example.com'\n"})
    assert Path("tests/pkg/test_host.py") not in mapped_tests(repo, [Path("pkg/__init__.py")])


def test_module_names_follow_the_path():
    assert module_name(Path("collect/probes/tcp.py")) == "collect.probes.tcp"
    assert module_name(Path("collect/probes/__init__.py")) == "collect.probes"


def test_no_change_compiles_and_runs_nothing(repo):
    code, out, ran = dev_cycle(repo)
    assert code == 0, out
    assert "0 changed Python files" in out and ran == []


def test_a_change_runs_the_named_test_and_the_importers_in_parallel_but_not_the_rest(repo):
    (repo / "pkg/probes/tcp.py").write_text("def port():\n    return 400 + 43\n")
    code, out, ran = dev_cycle(repo, "--jobs", "2")
    assert code == 0, out
    assert sorted(ran) == ["test_client", "test_tcp"]
    assert "compile │ pkg/probes/tcp.py" in out
    assert "test    │ tests/pkg/test_tcp.py" in out and "test    │ tests/pkg/test_client.py" in out
    assert "1 passed" in out and "2 files, 2 workers" in out


def test_a_staged_behaviour_change_fails_with_exit_1_and_shows_the_failure(repo):
    (repo / "pkg/probes/tcp.py").write_text("def port():\n    return 80\n")
    git(repo, "add", "pkg/probes/tcp.py")
    code, out, ran = dev_cycle(repo)
    assert code == 1
    assert "FAILED" in out and "assert 80 == 443" in out
    assert sorted(ran) == ["test_client", "test_tcp"]


def test_a_syntax_error_fails_the_compile_and_skips_the_tests(repo):
    (repo / "pkg/other.py").write_text("def name(:\n")
    code, out, ran = dev_cycle(repo)
    assert code == 1
    assert "compile failed: tests skipped" in out and "pkg/other.py" in out
    assert ran == []


def test_untracked_files_count_only_with_include_untracked(repo):
    (repo / "pkg/fresh.py").write_text("VALUE = 1\n")
    (repo / "tests/pkg/test_fresh.py").write_text(
        "from tests.logbook import log\nfrom pkg.fresh import VALUE\n\n\n"
        "def test_fresh():\n    log('test_fresh')\n    assert VALUE == 1\n")
    assert dev_cycle(repo)[2] == []
    code, out, ran = dev_cycle(repo, "--include-untracked")
    assert code == 0, out
    assert ran == ["test_fresh"]


def test_full_adds_the_whole_suite_after_the_mapped_tests(repo):
    (repo / "pkg/other.py").write_text("def name():\n    return 'other'  # edited\n")
    code, out, ran = dev_cycle(repo, "--full")
    assert code == 0, out
    assert ran[0] == "test_other", "the mapped test runs first"
    assert sorted(ran[1:]) == ["test_client", "test_other", "test_tcp"]
    assert "whole suite" in out


def test_no_parallel_tests_runs_one_process_in_sorted_file_order(repo):
    (repo / "pkg/probes/tcp.py").write_text("def port():\n    return 443  # edited\n")
    code, out, ran = dev_cycle(repo, "--no-parallel-tests")
    assert code == 0, out
    assert ran == ["test_client", "test_tcp"]  # tests/pkg/test_client.py sorts first
    assert "2 files, one process" in out


def test_outside_a_git_repository_it_says_so_with_exit_2(tmp_path):
    (tmp_path / "plain").mkdir()
    done = subprocess.run([sys.executable, str(DEV_CYCLE)], cwd=tmp_path / "plain",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "not a git repository" in done.stdout
