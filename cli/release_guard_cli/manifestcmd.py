"""`release-guard manifest validate|release`: release manifests and prompt versions.

``validate`` checks ``releases/*.yaml`` and ``prompts/*/v*.yaml`` against their schemas
and each other (the prompt version and policy a manifest names); every error names the
file, the line and the field. ``release --changed-from REF`` is the pipeline's Release
stage: it releases each manifest that changed between REF and HEAD, or whose prompt
version did (docs/manifests.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release_guard_cli import manifests
from release_guard_cli.manifests import ManifestError, Planned, clip

Print = Callable[[str], None]


def _root(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return Path(top)
    except (OSError, subprocess.CalledProcessError):
        return Path.cwd()


def _is_file(path: Path) -> bool:
    """``path`` names a file; a name the system refuses (too long) names none."""
    try:
        return path.is_file()
    except OSError:
        return False


def validate(root: Path, paths: list[Path], out: Print = print) -> int:
    missing = [p for p in paths if not _is_file(p)]
    for p in missing:
        out(f"{clip(str(p), 200)}: no such file")
    catalog = manifests.load_catalog(root, [p for p in paths if p not in missing])
    for problem in catalog.problems:
        out(str(problem))
    if catalog.problems or missing:
        out(f"{len(catalog.problems) + len(missing)} problem(s); nothing is valid to release")
        return 1
    if paths:
        out(f"ok: {len(paths)} file(s)")
    else:
        out(
            f"ok: {len(catalog.manifests)} manifest(s), {len(catalog.prompts)} prompt "
            f"version(s), {len(catalog.policies)} policy file(s) they name"
        )
    return 0


def _outcome(info: Any, release_id: str, arn: str, timeout: float) -> tuple[bool, str]:
    """(promoted, what happened) once the execution has ended."""
    from release_guard_cli import ops

    desc = ops.wait(arn, timeout)
    if desc["status"] == "RUNNING":
        return False, f"still running after {timeout:g} s"
    try:
        meta = ops.summary(info, release_id)
        said = f"{meta.get('status')}: {meta.get('reason') or ''}".rstrip(": ")
    except SystemExit:
        said = str(desc.get("error") or desc["status"])
    return desc["status"] == "SUCCEEDED", f"{desc['status']} ({said})"


def release_changed(
    root: Path,
    ref: str,
    stack_info: Callable[[], Any] | None,
    *,
    wait: bool = False,
    timeout: float = 7200,
    dry_run: bool = False,
    region: str | None = None,
    who: str | None = None,
    out: Print = print,
) -> int:
    """Start (and with ``wait``, follow) one release per manifest the diff asks for.
    0: every release started (and promoted, with ``wait``); 1: any was refused or did
    not promote; 2: invalid manifests or git trouble, nothing started."""
    try:
        planned, notes = manifests.plan_releases(root, ref, region=region, who=who)
    except ManifestError as err:
        for problem in err.problems:
            out(str(problem))
        out("invalid manifests or prompt versions: nothing released")
        return 2
    except RuntimeError as err:
        out(str(err))
        return 2
    for note in notes:
        out(note)
    if not planned:
        out(f"no manifest or referenced prompt version changed since {ref}: nothing to release")
        return 0
    if dry_run:
        for p in planned:
            out(f"{p.manifest}: {p.reason}")
            out(json.dumps(p.request.model_dump(mode="json", exclude_none=True), indent=2))
        return 0
    if stack_info is None:
        raise ValueError("a stack to release with (or dry_run)")
    return _start_all(planned, stack_info(), wait, timeout, out)


def _start_all(planned: list[Planned], info: Any, wait: bool, timeout: float, out: Print) -> int:
    from release_guard_cli import ops

    failed = 0
    started: list[tuple[Planned, dict[str, Any]]] = []
    for p in planned:
        try:
            result = ops.start(info, p.request.model_dump(mode="json", exclude_none=True))
        except SystemExit as err:  # StartRelease refused it: the reason is the message
            out(f"{p.manifest}: {err}")
            failed += 1
            continue
        out(
            f"{p.manifest}: {p.reason} -> {result.get('status')} {result.get('release_id')}: "
            f"{result.get('reason')}"
        )
        if result.get("status") in ("started", "duplicate") and result.get("execution_arn"):
            started.append((p, result))
        elif result.get("status") != "started":
            failed += 1
    if wait:
        for p, result in started:
            promoted, said = _outcome(
                info, str(result["release_id"]), str(result["execution_arn"]), timeout
            )
            out(f"{p.manifest}: {result['release_id']} {said}")
            failed += 0 if promoted else 1
    return 1 if failed else 0


def cmd_validate(args: argparse.Namespace) -> int:
    return validate(_root(args.root), [Path(p) for p in args.paths])


def cmd_release(args: argparse.Namespace) -> int:
    from release_guard_cli import ops

    return release_changed(
        _root(args.root),
        args.changed_from,
        None if args.dry_run else (lambda: ops.stack_info(args.stack_name)),
        wait=args.wait,
        timeout=args.timeout,
        dry_run=args.dry_run,
        region=args.region,
    )


def add_arguments(sub: Any) -> None:
    """`manifest validate` and `manifest release` on the main parser's subparsers."""
    man = sub.add_parser("manifest", help="release manifests and prompt versions (git)")
    msub = man.add_subparsers(dest="action", required=True)
    va = msub.add_parser("validate", help="check releases/*.yaml and prompts/*/v*.yaml")
    va.add_argument("paths", nargs="*", help="only these files (default: the whole checkout)")
    va.add_argument("--root", help="the checkout (default: the git top level)")
    va.set_defaults(fn=cmd_validate)
    rl = msub.add_parser(
        "release", help="release what changed since a git ref (the pipeline's Release stage)"
    )
    rl.add_argument("--changed-from", required=True, metavar="REF", help="e.g. HEAD~1")
    rl.add_argument("--stack-name", default="release-guard")
    rl.add_argument("--wait", action="store_true", help="exit 1 unless every release promotes")
    rl.add_argument("--timeout", type=float, default=7200, help="seconds per release with --wait")
    rl.add_argument("--dry-run", action="store_true", help="print the StartRelease requests")
    rl.add_argument("--region", help="where model.container images resolve (default: AWS's)")
    rl.add_argument("--root", help="the checkout (default: the git top level)")
    rl.set_defaults(fn=cmd_release)
