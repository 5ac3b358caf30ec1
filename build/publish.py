"""Publish a finished public/ to the gh-pages branch with ghp-import (pinned in pyproject).

`-n -f -o` semantics: a .nojekyll file (GitHub Pages serves `_`-prefixed paths as they are), a
force push, and an orphan commit, so the branch is always exactly one commit and never grows a
history of every 15-minute build. A missing, empty or partial build is refused before git runs:
the last good site stays online.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from build.errors import BuildError

# A build is complete only when these exist, are non-empty, and the index parses.
REQUIRED_FILES = ("api/v1/index.json", "status/index.html")
INDEX_JSON = "api/v1/index.json"
REMOTE = "origin"
DEFAULT_MESSAGE = "Publish NetTrace site"
# Used only when neither the environment nor git config names a committer (a fresh machine).
FALLBACK_COMMITTER = (("GIT_COMMITTER_NAME", "user.name", "NetTrace publisher"),
                      ("GIT_COMMITTER_EMAIL", "user.email", "nettrace@localhost"))


class PublishError(BuildError):
    """The site was not published: incomplete build, bad repository or a git failure."""


def publish_site(public_dir: Path, repo_dir: Path, branch: str = "gh-pages",
                 message: str = DEFAULT_MESSAGE, *, cname: str | None = None,
                 prune: bool = False) -> None:
    """Commit public_dir as the single orphan commit of `branch` in the git repository
    repo_dir, and force-push it when the repository has an `origin` remote.

    cname writes a CNAME file (a custom domain on GitHub Pages must be in every publish).
    prune expires reflogs and runs `git gc --prune=now` afterwards: for a repository kept only
    for publishing (the central machine's), where every replaced build would otherwise stay on
    disk. Never pass it for a developer's checkout.
    Raises PublishError naming the missing file or the failing git step."""
    check_complete(public_dir)
    repo = Path(repo_dir)
    _git(repo, "rev-parse", "--git-dir", step="not a git repository")
    if _git(repo, "symbolic-ref", "-q", "--short", "HEAD", check=False) == branch:
        raise PublishError(f"{repo}: {branch} is checked out; publishing would replace the work tree")
    # ghp-import -o only drops the local branch when origin/<branch> exists: drop it ourselves so
    # the new commit has no parent even without a remote.
    _git(repo, "update-ref", "-d", f"refs/heads/{branch}", step=f"cannot reset {branch}")
    push = REMOTE in _git(repo, "remote").split()
    cmd = [sys.executable, "-m", "ghp_import", "-n", "-f", "-o", "-b", branch, "-m", message]
    if cname:
        cmd += ["-c", cname]
    if push:
        cmd += ["-p", "-r", REMOTE]
    done = subprocess.run([*cmd, str(Path(public_dir).resolve())], cwd=repo, env=_committer_env(repo),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PublishError(f"ghp-import failed (exit {done.returncode}): {_last_line(done)}")
    if _git(repo, "rev-list", "--count", branch, check=False) != "1":
        raise PublishError(f"{repo}: ghp-import did not leave {branch} as one commit")
    if prune:
        _git(repo, "reflog", "expire", "--expire=now", "--all", step="reflog expire failed")
        _git(repo, "gc", "--prune=now", "--quiet", step="gc failed")


def check_complete(public_dir: Path) -> None:
    """Raises PublishError unless public_dir holds a whole build (see REQUIRED_FILES)."""
    root = Path(public_dir)
    if not root.is_dir():
        raise PublishError(f"{root}: no build output (not a directory)")
    for rel in REQUIRED_FILES:
        path = root / rel
        if not path.is_file() or path.stat().st_size == 0:
            raise PublishError(f"{root}: partial build, {rel} is missing or empty; not publishing")
    try:
        json.loads((root / INDEX_JSON).read_bytes())
    except ValueError as exc:
        raise PublishError(f"{root / INDEX_JSON}: not valid JSON ({exc}); not publishing") from None


def _committer_env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, key, fallback in FALLBACK_COMMITTER:
        if not env.get(var) and not _git(repo, "config", key, check=False):
            env[var] = fallback
    return env


def _git(repo: Path, *args: str, step: str = "", check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise PublishError(f"{repo}: {step or 'git ' + args[0]}: {_last_line(done)}")
    return done.stdout.strip()


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else "no output"


def main(argv: list[str] | None = None) -> int:
    """`python -m build.publish PUBLIC_DIR [--repo DIR] ...`: the fallback workflow's entry."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m build.publish", description=__doc__.splitlines()[0])
    p.add_argument("public_dir", type=Path)
    p.add_argument("--repo", type=Path, default=Path("."), help="git repository (default: .)")
    p.add_argument("--branch", default="gh-pages")
    p.add_argument("--message", default=DEFAULT_MESSAGE)
    p.add_argument("--cname", help="custom domain to keep in a CNAME file")
    p.add_argument("--prune", action="store_true",
                   help="drop replaced builds from a repository kept only for publishing")
    args = p.parse_args(argv)
    try:
        publish_site(args.public_dir, args.repo, args.branch, args.message, cname=args.cname,
                     prune=args.prune)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    print(f"published {args.public_dir} to {args.branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
