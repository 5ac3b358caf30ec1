"""The fast local loop: compile what changed, then run the tests that cover it.

    python3 tools/dev_cycle.py [--include-untracked] [--full] [--no-parallel-tests] [--jobs N]

1. Changed files: `git diff --name-only HEAD` (staged and unstaged) ending in .py, plus new
   untracked ones with --include-untracked. Deleted files are skipped.
2. py_compile of each changed file, in parallel processes.
3. The mapped test files, in one pytest run spread over xdist workers (one file per worker at a
   time), with a row per file from pytest's JUnit report:
   - a changed test file itself;
   - `<pkg>/.../<name>.py` -> `tests/<pkg>/test_<name>.py` when that file exists
     (collect/probes/tcp.py -> tests/collect/test_tcp.py);
   - every test file that can reach the changed file through the project's imports, followed
     transitively: `import a.b`, `from a.b import x`, `from a import b` (also inside functions;
     importing a.b also runs a/__init__.py), a dotted module name in a string
     (importlib.import_module("proxy.cli")), `"-m", "pkg"` in an argument list (a child
     process running pkg/__main__.py), a path literal naming a project .py file (a script run
     as a child), and each conftest.py above a test file (pytest loads them).
4. --full: the whole suite afterwards (pytest -n auto when pytest-xdist is installed).
--no-parallel-tests runs the mapped tests in one pytest process, files in sorted order, with
PYTHONHASHSEED=0: a deterministic replay. Tests are skipped when a file does not compile.
Exit status 1 on any compile or test failure; a table shows what ran and how long it took.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import py_compile
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

VENV_PYTHON = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
if __name__ == "__main__" and VENV_PYTHON.exists() and Path(sys.prefix) != VENV_PYTHON.parent.parent:
    # `python3 tools/dev_cycle.py` from outside the venv: rerun inside it (rich, pytest, the code)
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])

from rich.console import Console  # noqa: E402 (after the venv switch)
from rich.table import Table  # noqa: E402

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
XDIST = importlib.util.find_spec("xdist") is not None
NO_TESTS_COLLECTED = 5  # pytest's exit status when a file holds no tests
OUTPUT_TAIL_LINES = 60
OUTCOME_WORDS = {"passed": "passed", "failure": "failed", "error": "errors", "skipped": "skipped"}


@dataclass(frozen=True, slots=True)
class Step:
    stage: str  # compile | test | full
    target: str
    ok: bool
    duration_s: float
    summary: str  # pytest's last line, or the compile error
    output: str = ""  # shown when the step failed


@dataclass(frozen=True, slots=True)
class Case:
    """One test from pytest's JUnit report."""
    classname: str  # dotted: tests.pkg.test_tcp (or .TestClass)
    time_s: float
    outcome: str  # passed | failure | error | skipped


def git_lines(root: Path, *args: str) -> list[str]:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if line]


def changed_python_files(root: Path, include_untracked: bool) -> list[Path]:
    """Relative paths of the existing .py files that differ from HEAD (and new ones if asked)."""
    names = set(git_lines(root, "diff", "--name-only", "HEAD", "--"))
    if include_untracked:
        names |= set(git_lines(root, "ls-files", "--others", "--exclude-standard"))
    return sorted(Path(n) for n in names if n.endswith(".py") and (root / n).is_file())


def compile_one(path: str) -> Step:
    start = time.perf_counter()
    try:
        py_compile.compile(path, doraise=True)
    except py_compile.PyCompileError as exc:
        return Step("compile", path, False, time.perf_counter() - start,
                    exc.msg.strip().splitlines()[-1], exc.msg)
    return Step("compile", path, True, time.perf_counter() - start, "ok")


def compile_all(root: Path, files: list[Path], jobs: int) -> list[Step]:
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        steps = list(pool.map(compile_one, [str(root / f) for f in files]))
    return [Step(s.stage, str(Path(s.target).relative_to(root)), s.ok, s.duration_s, s.summary,
                 s.output) for s in steps]


def module_name(rel: Path) -> str:
    parts = rel.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files(root: Path) -> list[Path]:
    """Relative paths of the .py files git tracks or would track (untracked, not ignored)."""
    names = git_lines(root, "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py")
    return sorted(Path(n) for n in set(names) if (root / n).is_file())


def referenced_names(path: Path, rel: Path) -> tuple[set[str], set[str], set[str]]:
    """What a file can run, as (imported modules, dotted strings that may name a module, path
    strings): its imports (`from a import b` gives both a and a.b), the X of `"-m", "X"` in an
    argument list (with X.__main__), and strings ending in .py."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError:
        return set(), set(), set()
    own = module_name(rel).split(".")
    package = own if rel.name == "__init__.py" else own[:-1]
    modules: set[str] = set()
    dotted: set[str] = set()
    paths: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the file's own package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, (ast.List, ast.Tuple)):
            words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            modules.update(f"{w}{tail}" for flag, w in zip(words, words[1:])
                           if flag == "-m" and isinstance(w, str) for tail in ("", ".__main__"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.endswith(".py"):
                paths.add(node.value)
            elif "." in node.value and node.value.replace(".", "").replace("_", "").isalnum():
                dotted.add(node.value)
    return modules, dotted, paths


def is_test_file(rel: Path) -> bool:
    return rel.parts[0] == "tests" and rel.name.startswith("test_")


def dependencies(root: Path, files: list[Path]) -> dict[Path, set[Path]]:
    """For each project file, the project files it can run directly (see the module docstring);
    a test file's conftest.py files are named whether or not they exist yet."""
    by_module = {module_name(rel): rel for rel in files}
    by_path = {rel.as_posix(): rel for rel in files}
    deps: dict[Path, set[Path]] = {}
    for rel in files:
        modules, dotted, paths = referenced_names(root / rel, rel)
        modules |= dotted & by_module.keys()  # a string only when it names a module exactly
        # importing a.b.c runs a/__init__.py and a/b/__init__.py too
        found = {by_module[".".join(parts[:i])] for parts in (m.split(".") for m in modules)
                 for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in by_module}
        found |= {by_path[p.removeprefix("./")] for p in paths if p.removeprefix("./") in by_path}
        if is_test_file(rel) or rel.name == "conftest.py":
            found |= {folder / "conftest.py" for folder in rel.parents}
        deps[rel] = found - {rel}
    return deps


def mapped_tests(root: Path, changed: list[Path]) -> list[Path]:
    """The test files that cover the changed files, by the rules in the module docstring."""
    files = project_files(root)
    importers: dict[Path, set[Path]] = {}
    for rel, deps in dependencies(root, files).items():
        for dep in deps:
            importers.setdefault(dep, set()).add(rel)
    picked: set[Path] = set()
    for rel in changed:
        by_name = Path("tests", rel.parts[0], f"test_{rel.stem}.py")
        if len(rel.parts) > 1 and not is_test_file(rel) and (root / by_name).is_file():
            picked.add(by_name)
        reached, todo = {rel}, [rel]
        while todo:
            for importer in importers.get(todo.pop(), ()):
                if importer not in reached:
                    reached.add(importer)
                    todo.append(importer)
        picked.update(r for r in reached if is_test_file(r) and (root / r).is_file())
    return sorted(picked)


def run_pytest(root: Path, stage: str, label: str, args: list[str], env: dict[str, str]) -> Step:
    start = time.perf_counter()
    done = subprocess.run([*PYTEST, *args], cwd=root, env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    ok = done.returncode in (0, NO_TESTS_COLLECTED)
    summary = "no tests" if done.returncode == NO_TESTS_COLLECTED else (lines[-1] if lines else "")
    tail = "\n".join(lines[-OUTPUT_TAIL_LINES:])
    return Step(stage, label, ok, time.perf_counter() - start, summary.strip("= "), tail)


def read_junit(path: Path) -> list[Case]:
    if not path.exists():  # pytest died before writing it; its own row says why
        return []
    cases = []
    for case in ElementTree.parse(path).iter("testcase"):
        outcomes = {child.tag for child in case} & {"failure", "error", "skipped"}
        cases.append(Case(case.get("classname", ""), float(case.get("time", 0)),
                          outcomes.pop() if outcomes else "passed"))
    return cases


def file_steps(tests: list[Path], cases: list[Case]) -> list[Step]:
    """One row per test file from the JUnit report: counts and the summed test time."""
    steps = []
    for test in tests:
        dotted = module_name(test)
        mine = [c for c in cases if c.classname == dotted or c.classname.startswith(dotted + ".")]
        counts = {o: sum(c.outcome == o for c in mine) for o in OUTCOME_WORDS}
        summary = ", ".join(f"{n} {OUTCOME_WORDS[o]}" for o, n in counts.items() if n) or "no tests"
        ok = counts["failure"] + counts["error"] == 0
        steps.append(Step("test", str(test), ok, sum(c.time_s for c in mine), summary))
    return steps


def run_tests(root: Path, tests: list[Path], jobs: int, parallel: bool) -> list[Step]:
    """The mapped tests in one pytest run (xdist workers, one file per worker at a time, when
    parallel), then a row per file from its JUnit report."""
    env = dict(os.environ)
    args = [str(t) for t in tests]
    workers = min(jobs, len(tests))
    if parallel and workers > 1 and XDIST:
        args = ["-n", str(workers), "--dist", "loadfile", *args]
        label = f"{len(tests)} files, {workers} workers"
    else:
        env["PYTHONHASHSEED"] = "0"  # with the sorted file list: a deterministic replay
        label = f"{len(tests)} files, one process"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        run = run_pytest(root, "pytest", label, [f"--junitxml={report}", *args], env)
        cases = read_junit(report)
    return [*file_steps(tests, cases), run]


def run_full(root: Path, parallel: bool) -> Step:
    args = ["-n", "auto"] if parallel and XDIST else []
    return run_pytest(root, "full", "whole suite", args, dict(os.environ))


def render(console: Console, steps: list[Step], wall_s: float) -> None:
    for step in steps:
        if not step.ok and step.output:
            console.rule(f"[red]{step.stage} {step.target}")
            console.print(step.output, markup=False, highlight=False)
    table = Table(title="dev cycle")
    table.add_column("stage")
    table.add_column("target", overflow="fold")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("summary", overflow="fold")
    for s in steps:
        result = "[green]ok" if s.ok else "[red]FAILED"
        table.add_row(s.stage, s.target, result, f"{s.duration_s:.2f}", s.summary)
    console.print(table)
    failed = sum(not s.ok for s in steps)
    console.print(f"{len(steps)} steps, {failed} failed, {wall_s:.2f} s wall time")


def cycle(root: Path, args: argparse.Namespace, console: Console) -> list[Step]:
    changed = changed_python_files(root, args.include_untracked)
    console.print(f"{len(changed)} changed Python files: {', '.join(map(str, changed)) or '-'}")
    steps = compile_all(root, changed, args.jobs) if changed else []
    if not all(s.ok for s in steps):
        console.print("[red]compile failed: tests skipped")
        return steps
    tests = mapped_tests(root, changed)
    console.print(f"{len(tests)} mapped test files")
    if tests:
        steps += run_tests(root, tests, args.jobs, not args.no_parallel_tests)
    if args.full:
        steps.append(run_full(root, not args.no_parallel_tests))
    return steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--include-untracked", action="store_true", help="also new, untracked .py files")
    p.add_argument("--full", action="store_true", help="then the whole test suite")
    p.add_argument("--no-parallel-tests", action="store_true",
                   help="mapped tests in one process, fixed order (deterministic replay)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel processes")
    args = p.parse_args(argv)
    console = Console()
    start = time.perf_counter()
    try:
        root = Path(git_lines(Path.cwd(), "rev-parse", "--show-toplevel")[0])
        steps = cycle(root, args, console)
    except subprocess.CalledProcessError as exc:
        console.print(f"dev_cycle: {' '.join(exc.cmd)}: {exc.stderr.strip()}", markup=False)
        return 2
    render(console, steps, time.perf_counter() - start)
    return 0 if all(s.ok for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
