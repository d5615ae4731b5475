"""Compile every .py of a ``sam build`` output to bytecode, then check that none is left.

Usage: python3.12 scripts/compile_bytecode.py .aws-sam/build [--check]

Lambda unpacks a function to /var/task and its layers to /opt, both read-only, so a
module without its .pyc is compiled again at every cold start and the result thrown
away (about 400 ms of the drift check's cold start, docs/performance.md). ``sam build``
installs wheels without compiling them, so this runs after it (``make build``).

The .pyc are hash-based and unchecked (PEP 552): the interpreter uses them without
looking at the source's mtime. Timestamp .pyc would not survive the trip: the zip that
``sam deploy`` uploads dates every entry 1980-01-01 (SAM CLI's ``make_zip`` writes bare
``zipfile.ZipInfo`` entries), so a source's mtime after extraction is not the one
recorded in its .pyc, and Python would treat the .pyc as stale and compile again. The
build dir is written anew by every ``sam build`` and recompiled right after it (every
file, ``force``), so an unchecked .pyc cannot outlive its source.

Compiled with the interpreter that runs this script, which must be Python 3.12 (the
functions' runtime: the .pyc name and magic number are per minor version). Writes even
when PYTHONDONTWRITEBYTECODE is set (``compileall`` writes regardless) and ignores
PYTHONPYCACHEPREFIX, so the .pyc land beside their sources where Lambda looks.
Each code object names its source as Lambda will see it (/opt/... for layers,
/var/task/... for functions).

Exit 0 when every .py has a valid .pyc, 1 with the list of those that have none (or
a stale one), 2 when the build dir cannot be read or the interpreter is not 3.12.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import py_compile
import sys
from pathlib import Path

RUNTIME = (3, 12)
FLAGS_UNCHECKED_HASH = 0b01  # PEP 552: bit 0 hash-based, bit 1 check_source off


def artifact_dirs(build: Path) -> list[Path]:
    """The directories ``sam build`` wrote, one per function or layer."""
    return sorted(p for p in build.iterdir() if p.is_dir())


def lambda_path(artifact: Path) -> str:
    """Where Lambda puts an artifact's files: a layer (its files under python/) in
    /opt, a function's code in /var/task."""
    return "/opt" if (artifact / "python").is_dir() else "/var/task"


def compile_tree(build: Path, workers: int) -> bool:
    ok = True
    for artifact in artifact_dirs(build):
        ok &= compileall.compile_dir(
            str(artifact),
            quiet=1,
            force=True,  # a timestamp .pyc from the build would otherwise be kept
            workers=workers,
            stripdir=str(artifact),
            prependdir=lambda_path(artifact),
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    return bool(ok)


def missing_bytecode(build: Path) -> list[Path]:
    """Every .py under ``build`` without a 3.12 unchecked-hash .pyc beside it."""
    missing = []
    magic = importlib.util.MAGIC_NUMBER
    for root, _dirs, files in os.walk(build):
        for name in files:
            if not name.endswith(".py"):
                continue
            source = Path(root, name)
            pyc = Path(importlib.util.cache_from_source(str(source)))
            try:
                with pyc.open("rb") as f:
                    header = f.read(8)
            except OSError:
                missing.append(source)
                continue
            flags = int.from_bytes(header[4:8], "little")
            if header[:4] != magic or flags != FLAGS_UNCHECKED_HASH:
                missing.append(source)
    return sorted(missing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="sam build output, e.g. .aws-sam/build")
    parser.add_argument("--check", action="store_true", help="only check, compile nothing")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        print(
            f"compile_bytecode: needs Python {RUNTIME[0]}.{RUNTIME[1]} (the functions' "
            f"runtime), not {sys.version.split()[0]}",
            file=sys.stderr,
        )
        return 2
    build: Path = args.build_dir
    if not build.is_dir():
        print(f"compile_bytecode: {build} is not a directory: run `sam build`", file=sys.stderr)
        return 2
    # Beside the sources, whatever PYTHONPYCACHEPREFIX says (here and in the workers).
    os.environ.pop("PYTHONPYCACHEPREFIX", None)
    sys.pycache_prefix = None
    if not args.check and not compile_tree(build, workers=os.cpu_count() or 1):
        print("compile_bytecode: some files did not compile (listed below)", file=sys.stderr)
    missing = missing_bytecode(build)
    if missing:
        print(f"compile_bytecode: {len(missing)} .py without a valid .pyc:", file=sys.stderr)
        for path in missing:
            print(f"  {path}", file=sys.stderr)
        return 1
    count = sum(1 for _ in build.rglob("*.py"))
    print(f"compile_bytecode: {count} .py files in {build}, each with its unchecked-hash .pyc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
