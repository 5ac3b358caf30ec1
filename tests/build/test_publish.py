"""build/publish.py against real git repositories and the real ghp-import, all on local disk."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build.publish import PublishError, main, publish_site


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README").write_text("source\n")
    git(path, "add", "README")
    git(path, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "src")
    return path


def make_build(path: Path, generated: str = "2026-11-25T23:00:00Z") -> Path:
    (path / "api" / "v1").mkdir(parents=True)
    (path / "status").mkdir()
    (path / "api" / "v1" / "index.json").write_text(json.dumps({"generated_at": generated}))
    (path / "status" / "index.html").write_text("<!doctype html><title>status</title>")
    (path / "index.html").write_text("<!doctype html><title>NetTrace</title>")
    return path


def tree(repo: Path, ref: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", ref).splitlines())


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_publishing_twice_leaves_one_orphan_commit_with_the_site_and_nojekyll(tmp_path, repo):
    publish_site(make_build(tmp_path / "b1"), repo)
    second = make_build(tmp_path / "b2", generated="2026-11-25T23:15:00Z")
    publish_site(second, repo, message="build 2")
    assert git(repo, "rev-list", "--count", "gh-pages") == "1"
    assert tree(repo, "gh-pages") == {".nojekyll", "index.html", "api/v1/index.json",
                                      "status/index.html"}
    assert "23:15" in git(repo, "show", "gh-pages:api/v1/index.json")
    assert git(repo, "log", "-1", "--format=%s", "gh-pages") == "build 2"
    # the source branch and work tree are untouched
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "status", "--porcelain") == ""


def test_a_configured_remote_receives_a_force_pushed_single_commit(tmp_path, repo):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    publish_site(make_build(tmp_path / "b1"), repo)
    publish_site(make_build(tmp_path / "b2", generated="second"), repo, cname="nettrace.example")
    assert git(remote, "rev-list", "--count", "gh-pages") == "1"
    assert "second" in git(remote, "show", "gh-pages:api/v1/index.json")
    assert git(remote, "show", "gh-pages:CNAME") == "nettrace.example"


def test_prune_removes_replaced_builds_from_a_publishing_repository(tmp_path, repo):
    publish_site(make_build(tmp_path / "b1", generated="first-build-marker"), repo, prune=True)
    old = git(repo, "rev-parse", "gh-pages:api/v1/index.json")
    publish_site(make_build(tmp_path / "b2", generated="second"), repo, prune=True)
    gone = subprocess.run(["git", "cat-file", "-e", old], cwd=repo, capture_output=True)
    assert gone.returncode != 0, "the replaced build's blob is still stored"


@pytest.mark.parametrize("damage, reason", [
    (lambda b: (b / "status" / "index.html").unlink(), "status/index.html is missing"),
    (lambda b: (b / "api" / "v1" / "index.json").write_text(""), "api/v1/index.json is missing or empty"),
    (lambda b: (b / "api" / "v1" / "index.json").write_text("{\"half"), "not valid JSON"),
])
def test_a_partial_build_is_refused_and_the_published_site_stays(tmp_path, repo, damage, reason):
    publish_site(make_build(tmp_path / "good"), repo)
    published = git(repo, "rev-parse", "gh-pages")
    bad = make_build(tmp_path / "bad")
    damage(bad)
    with pytest.raises(PublishError, match=reason):
        publish_site(bad, repo)
    assert git(repo, "rev-parse", "gh-pages") == published


def test_a_missing_or_empty_output_folder_is_refused(tmp_path, repo):
    with pytest.raises(PublishError, match="not a directory"):
        publish_site(tmp_path / "nothing", repo)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublishError, match="partial build"):
        publish_site(tmp_path / "empty", repo)
    assert subprocess.run(["git", "rev-parse", "--verify", "-q", "gh-pages"], cwd=repo).returncode != 0


def test_a_folder_that_is_not_a_repository_is_a_clear_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(PublishError, match="not a git repository"):
        publish_site(make_build(tmp_path / "b"), tmp_path / "plain")


def test_the_checked_out_branch_is_never_replaced(tmp_path, repo):
    with pytest.raises(PublishError, match="main is checked out"):
        publish_site(make_build(tmp_path / "b"), repo, branch="main")
    assert (repo / "README").read_text() == "source\n"


def test_the_command_line_entry_reports_a_refusal_with_exit_2(tmp_path, repo, capsys):
    assert main([str(tmp_path / "missing"), "--repo", str(repo)]) == 2
    assert "no build output" in capsys.readouterr().err
    assert main([str(make_build(tmp_path / "b")), "--repo", str(repo)]) == 0
    assert git(repo, "rev-list", "--count", "gh-pages") == "1"


def test_a_bare_publishing_repository_as_on_the_central_machine_works_with_prune(tmp_path):
    pages = tmp_path / "pages"
    git(tmp_path, "init", "-q", "--bare", str(pages))  # what fly/entrypoint.sh creates on /data
    remote = tmp_path / "github.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(pages, "remote", "add", "origin", str(remote))
    for i in range(3):
        publish_site(make_build(tmp_path / f"b{i}", generated=f"round-{i}"), pages, prune=True)
    assert git(pages, "rev-list", "--count", "gh-pages") == "1"
    assert git(remote, "rev-list", "--count", "gh-pages") == "1"
    assert "round-2" in git(remote, "show", "gh-pages:api/v1/index.json")
