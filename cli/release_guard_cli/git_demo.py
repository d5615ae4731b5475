"""`make demo` (d): a release from git. A checkout declares what serves the endpoint; a
commit moves the manifest to prompt version 1, and `release-guard manifest release
--changed-from HEAD~1 --wait` (the pipeline's Release stage) releases exactly that
change through the same gate, canary and judge."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from release_guard_cli import manifestcmd, ops

MANIFEST = """\
endpoint: {endpoint}
model:
  package: {package}
{prompt}instance:
  type: ml.g5.2xlarge
  count: 1
policy: {policy}
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Demo", "-c", "user.email=demo@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def write_manifest(
    root: Path, endpoint: str, package: str, prompt: int | None, policy: str = "demo"
) -> None:
    """releases/<endpoint>.yaml: the package, optionally a support-assistant prompt."""
    pointer = f"prompt:\n  name: support-assistant\n  version: {prompt}\n" if prompt else ""
    path = root / "releases" / f"{endpoint}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = MANIFEST.format(endpoint=endpoint, package=package, prompt=pointer, policy=policy)
    path.write_text(text)


def _commit(root: Path, message: str) -> None:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


def run(
    info: ops.StackInfo,
    repo: Path,
    endpoint: str,
    package: str,
    say: Callable[[str], None],
) -> tuple[bool, list[str]]:
    """(promoted, release ids) of the release the commit asked for."""
    say("\n== (d) from git: a commit moves releases/demo-endpoint.yaml to prompt v1")
    with tempfile.TemporaryDirectory(prefix="rg-checkout-") as tmp:
        root = Path(tmp)
        (root / "policies").mkdir()
        shutil.copy(repo / "policies" / "demo.json", root / "policies" / "demo.json")
        (root / "prompts" / "support-assistant").mkdir(parents=True)
        shutil.copy(
            repo / "prompts" / "support-assistant" / "v1.yaml",
            root / "prompts" / "support-assistant" / "v1.yaml",
        )
        write_manifest(root, endpoint, package, None)
        _git(root, "init", "-q", "-b", "main")
        _commit(root, "what serves today")
        write_manifest(root, endpoint, package, 1)
        _commit(root, "support-assistant prompt v1")
        say("  release-guard manifest release --changed-from HEAD~1 --wait")
        before = {e["executionArn"] for e in ops.executions(info)}
        lines: list[str] = []
        code = manifestcmd.release_changed(
            root, "HEAD~1", lambda: info, wait=True, timeout=180, out=lines.append
        )
        for line in lines:
            say(f"    {line}")
        started = [e["name"] for e in ops.executions(info) if e["executionArn"] not in before]
    return code == 0 and len(started) == 1, started
