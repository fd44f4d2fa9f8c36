#!/usr/bin/env python3
"""Run the curated mutants against the test suite and report which ones it kills.

A *mutant* is a deliberately broken copy of the code: a leak, a weakened
check, a limit moved. A test suite that guards a privacy framework must fail
on every one of them. This script applies each mutant from
``scripts/mutant_list.py`` to a scratch copy of the working tree, runs the
tests named for it there, and reports ``killed`` (some test failed),
``SURVIVED`` (every test passed: the suite misses this bug) or ``error``
(the mutant no longer applies, or pytest could not run).

Mutants are written against behaviour, not file paths: each one names a code
snippet that must occur exactly once anywhere under ``mpcnet/`` or
``protocols/``, so they keep working when modules move. A snippet that no
longer matches is reported as an error that asks for the mutant to be
updated, never silently skipped.

Not part of the CI suite (it runs the relevant tests once per mutant)::

    python scripts/mutants.py                 # every mutant, then a summary table
    python scripts/mutants.py --list          # what each mutant breaks
    python scripts/mutants.py --only ID ...   # some of them
    python scripts/mutants.py --json out.json # also write the results
    python scripts/mutants.py --no-baseline   # skip the unmutated check

Exit status: 0 when every mutant run was killed, 1 when one survived or
errored, 2 on bad arguments or when the tests fail without any mutant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from mutant_list import MUTANTS, Mutant  # noqa: E402

# Where a mutant's snippet may live: the framework and the protocols.
SEARCHED = ("mpcnet", "protocols")
# Copied into the scratch tree: everything the tests read.
COPIED = ("mpcnet", "protocols", "tests", "benchmarks", "scripts", "examples", "docs", "README.md", "pyproject.toml")
# Per mutant: a hang is a kill only if a test's own deadline catches it.
RUN_TIMEOUT = 900


def _tracked_files(root: Path) -> list[Path]:
    """Tracked and untracked-but-not-ignored files under the copied paths."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *COPIED], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return [Path(line) for line in out.splitlines() if line and (root / line).is_file()]


def make_scratch(root: Path) -> Path:
    """A copy of the working tree (with uncommitted changes) in a temporary folder."""
    scratch = Path(tempfile.mkdtemp(prefix="mpcnet-mutant-"))
    for rel in _tracked_files(root):
        dest = scratch / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)
    return scratch


def locate(tree: Path, mutant: Mutant) -> tuple[Path, str]:
    """The one file holding the mutant's snippet, and that file's text.

    Raises LookupError when the snippet occurs nowhere or more than once:
    either means the mutant must be rewritten for the current code.
    """
    hits: list[tuple[Path, str, int]] = []
    for top in SEARCHED:
        for path in sorted((tree / top).rglob("*.py")):
            if mutant.file_hint and mutant.file_hint not in path.as_posix():
                continue
            text = path.read_text(encoding="utf-8")
            count = text.count(mutant.find)
            if count:
                hits.append((path, text, count))
    total = sum(count for _, _, count in hits)
    if total != 1:
        where = ", ".join(f"{p.relative_to(tree)} x{c}" for p, _, c in hits) or "nowhere"
        raise LookupError(f"snippet found {total} times ({where}); update the mutant")
    path, text, _ = hits[0]
    if mutant.inside:
        before = text[: text.index(mutant.find)]
        enclosing = re.findall(r"^\s*(?:async\s+)?def\s+(\w+)", before, flags=re.MULTILINE)
        if not enclosing or enclosing[-1] != mutant.inside:
            found = enclosing[-1] if enclosing else "module level"
            raise LookupError(f"snippet found in {found}, not in {mutant.inside}; update the mutant")
    return path, text


def apply(tree: Path, mutant: Mutant) -> Path:
    """Write the mutant into ``tree``; return the file it changed."""
    path, text = locate(tree, mutant)
    mutated = text.replace(mutant.find, mutant.replace)
    compile(mutated, str(path), "exec")  # a mutant must be valid Python, or it tests nothing
    path.write_text(mutated, encoding="utf-8")
    return path


def run_tests(tree: Path, tests: tuple[str, ...], python: str) -> tuple[int, float, str]:
    """Run pytest on ``tests`` inside ``tree``; (exit code, seconds, output tail)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("MPCNET_REQUIRE_ALL_TESTS", None)  # a mutant run may skip what the runner lacks
    cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - start, f"no result within {RUN_TIMEOUT} s"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    failed = [line.split()[1] for line in lines if line.startswith(("FAILED ", "ERROR ")) and len(line.split()) > 1]
    # What killed it (the first failing test), or the last lines of pytest's output.
    tail = failed[0] if proc.returncode == 1 and failed else "\n".join(lines[-3:])
    return proc.returncode, time.monotonic() - start, tail


def verdict(code: int) -> str:
    # pytest: 0 all passed, 1 some test failed; 2-5 interrupted, internal,
    # usage error, nothing collected: none of those is a kill.
    return {0: "SURVIVED", 1: "killed"}.get(code, "error")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--no-baseline", action="store_true", help="skip running the tests unmutated first")
    ap.add_argument("--python", default=sys.executable, help="the interpreter with mpcnet's test extras")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folders (for debugging a mutant)")
    args = ap.parse_args(argv)

    by_id = {m.id: m for m in MUTANTS}
    if len(by_id) != len(MUTANTS):
        print("mutant ids must be unique", file=sys.stderr)
        return 2
    if args.list:
        for m in MUTANTS:
            print(f"{m.id:32} {m.why}\n{'':32} tests: {' '.join(m.tests)}")
        return 0
    unknown = sorted(set(args.only or ()) - by_id.keys())
    if unknown:
        print(f"unknown mutant id(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [by_id[i] for i in args.only] if args.only else list(MUTANTS)

    results = []
    if not args.no_baseline:
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        scratch = make_scratch(ROOT)
        try:
            print(f"baseline: {len(tests)} test targets, unmutated ...", flush=True)
            code, secs, tail = run_tests(scratch, tests, args.python)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"baseline: exit {code} in {secs:.0f} s", flush=True)
        if code != 0:
            print(f"the tests fail without any mutant; fix that first:\n{tail}", file=sys.stderr)
            return 2

    for i, m in enumerate(chosen, 1):
        scratch = make_scratch(ROOT)
        try:
            try:
                changed = apply(scratch, m)
            except (LookupError, SyntaxError) as exc:
                code, secs, tail, where = -2, 0.0, str(exc), "?"
            else:
                where = changed.relative_to(scratch).as_posix()
                code, secs, tail = run_tests(scratch, m.tests, args.python)
        finally:
            if args.keep:
                print(f"  scratch kept at {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        status = verdict(code)
        results.append({"id": m.id, "status": status, "seconds": round(secs, 1), "file": where,
                        "tests": list(m.tests), "why": m.why, "detail": tail})
        print(f"[{i}/{len(chosen)}] {m.id:32} {status:8} {secs:6.1f} s  ({where})", flush=True)
        print("    " + ("by " if status == "killed" else "") + tail.replace("\n", "\n    "), flush=True)

    killed = sum(r["status"] == "killed" for r in results)
    total_secs = sum(r["seconds"] for r in results)
    print(f"\n{killed} of {len(results)} mutants killed; {total_secs:.0f} s of tests")
    print("\n| mutant | status | seconds | file | first failing test |\n|---|---|---:|---|---|")
    for r in results:
        by = r["detail"] if r["status"] == "killed" else ""
        print(f"| {r['id']} | {r['status']} | {r['seconds']:.1f} | {r['file']} | {by} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
