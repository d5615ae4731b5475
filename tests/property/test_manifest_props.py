"""Release manifests (`release-guard manifest validate|release`, the pipeline's Release
stage) on any input: every problem is a Problem (``file:line: field: message``; a
ManifestError of them stops `manifest release`), never an exception, and the work is
linear in the input's size (issue 12).

Linear time is never measured with a clock: the loader's work is counted (YAML tokens
scanned, nodes composed, values constructed), and inputs built to be expensive (deep
nesting, alias bombs, recursive aliases) of growing size must be refused with their
Problem at a cost that does not grow with them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.events import StartRelease
from release_guard.manifest import PromptFile, ReleaseManifest, start_request
from release_guard_cli import manifestcmd, manifests
from release_guard_cli.manifests import MAX_DEPTH, Catalog, Document, Problem

from tests.property.test_events_props import json_values, mutated

ROOT = Path(__file__).resolve().parents[2]
SHOWN = "releases/demo-endpoint.yaml"
MANIFEST = yaml.safe_load((ROOT / SHOWN).read_text())
# file:line: field: message, file:line: message or file: message (no line known)
PROBLEM = re.compile(r"^releases/demo-endpoint\.yaml(:[1-9][0-9]*)?: \S")


class NoAliases(yaml.SafeDumper):
    """Writes a value seen twice out twice (an alias is refused, and tested apart)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any, unicode: bool = True) -> str:
    return yaml.dump(data, Dumper=NoAliases, sort_keys=False, allow_unicode=unicode)


# --- Strategies ---------------------------------------------------------------------------

CONTROL = st.characters(min_codepoint=0, max_codepoint=0x9F) | st.sampled_from(
    ["\ufffe", "\uffff", "\ud800", "\u2028", "\x85", "\ufeff"]
)
any_text = st.text(st.characters() | CONTROL, max_size=200)

# Pieces of YAML that exercise the loader: anchors, aliases, tags, flow and block
# collections, document markers, directives, block scalars, merge keys, scalars the
# implicit resolvers take for numbers or dates, and the manifest's own keys.
YAML_PIECES = st.sampled_from(
    [
        "&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", ": ", "- ", "? ", "\n", "  ",
        "\t", "!!int ", "!!str ", "!!binary ", "!x ", "!<tag:yaml.org,2002:map> ", '"',
        "'", "|\n", ">-\n", "# c\n", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n",
        "<<: ", "0x_", "0b_", "0o7", "._", "2024-13-45", "2024-01-01 25:00:00", "1:2:3",
        ".inf", "-.nan", "~", "null", "yes", "=", "9" * 70, '"\\ud800"', '"\\x94"', "\r",
        "\x85", "\u2028", "\x94", "\x00", "endpoint", "model", "package", "image",
        "container", "instance", "type", "count", "prompt", "policy", "environment",
        "ml.g5.2xlarge", "demo-endpoint",
    ]
)  # fmt: skip
yamlish = st.lists(YAML_PIECES | st.text(max_size=4), max_size=40).map("".join)


def nested(layout: str, n: int) -> str:
    """``n`` levels of nesting under the key ``a``, in one of YAML's ways of writing it."""
    if layout == "flow":
        return "a: " + "[\n  " * n + "]" * n
    if layout == "flow-mapping":
        return "a: " + "{b: \n  " * n + "}" * n
    if layout == "flow-one-line":  # the scanner looks 1024 characters ahead: kept short
        return "a: " + "[ " * n
    if layout == "block":
        return "a:\n" + "".join(" " * (i + 1) + "- \n" for i in range(n))
    return "".join(" " * i + f"k{i}:\n" for i in range(n))  # block mapping


def bomb(levels: int, width: int) -> str:
    """Billion laughs: each level ``width`` aliases of the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# --- Counting the loader's work ---------------------------------------------------------


@dataclass
class Work:
    tokens: int = 0
    nodes: int = 0


@contextmanager
def counted() -> Iterator[Work]:
    """Counts the YAML tokens the loader scans and the nodes it composes."""
    work = Work()
    fetch, compose = manifests._Loader.fetch_more_tokens, manifests._Loader.compose_node

    def fetching(self: Any) -> Any:
        work.tokens += 1
        return fetch(self)

    def composing(self: Any, parent: Any, index: Any) -> Any:
        work.nodes += 1
        return compose(self, parent, index)

    with (
        mock.patch.object(manifests._Loader, "fetch_more_tokens", fetching),
        mock.patch.object(manifests._Loader, "compose_node", composing),
    ):
        yield work


def size(data: Any) -> int:
    """Values in ``data`` as a tree: what any walk of it (pydantic's) visits."""
    if isinstance(data, dict):
        return 1 + sum(size(k) + size(v) for k, v in data.items())
    if isinstance(data, list):
        return 1 + sum(size(v) for v in data)
    return 1


def lines_of(text: str) -> int:
    return len(manifests._LINE_BREAK.findall(text)) + 1


def check(text: str) -> tuple[Document | None, list[Problem]]:
    """Everything `manifest validate` does with one manifest's text (but reading it):
    load, schema, the checks against the checkout (this repository's prompts and
    policies), and for a valid manifest the StartRelease it asks for."""
    doc, problems = manifests.parse_yaml(text, SHOWN)
    for p in problems:
        assert PROBLEM.match(str(p)), str(p)
        assert p.line is None or p.line <= lines_of(text), (p, text)
    if doc is None:
        return doc, problems
    manifest, schema = manifests.validate_doc(doc, ReleaseManifest)
    for p in schema:
        assert PROBLEM.match(str(p)), str(p)
    if isinstance(doc.data, dict):
        manifests._cross_checks(ROOT, ROOT / SHOWN, doc, Catalog(ROOT))
    if manifest is not None:
        image = "1.dkr.ecr.us-east-1.amazonaws.com/tgi:3" if manifest.model.container else None
        request = start_request(manifest, None, image=image)
        StartRelease.model_validate(request.model_dump(mode="json"))
    manifests.validate_doc(doc, PromptFile)  # the prompt schema on the same document
    return doc, problems


# --- Properties ----------------------------------------------------------------------------


@given(text=any_text | yamlish)
def test_any_text_is_a_manifest_or_problems(text: str) -> None:
    """Contract of manifests.parse_yaml / validate_doc (`manifest validate`): any text,
    control characters and YAML's every construct included, gives a document or
    Problems naming the file and, when known, a line within the text; no exception.
    Linear: tokens scanned and nodes composed are bounded by the text's length, and the
    values built (what pydantic and the duplicate-key check walk) by the nodes."""
    with counted() as work:
        doc, _ = check(text)
    assert work.tokens <= len(text) + 3
    assert work.nodes <= 3 * len(text) + 2  # `{:}`: three nodes of one character
    if doc is not None:
        assert size(doc.data) <= work.nodes + 1


@given(data=mutated(MANIFEST), unicode=st.booleans())
def test_mutated_manifests_validate_or_are_problems(data: Any, unicode: bool) -> None:
    """Contract: the repository's manifest with fields dropped, added or of the wrong
    type (10**400, NaN, negative, empty, very long, lone surrogates) is a manifest
    (whose StartRelease validates) or Problems; never an exception."""
    check(dump(data, unicode))


@given(data=json_values)
def test_any_value_validates_or_is_problems(data: Any) -> None:
    """Contract of validate_doc: whatever value a document holds (not only what YAML
    makes: huge integers, NaN), the schema says yes or gives Problems."""
    doc = Document(SHOWN, data, None)
    for model in (ReleaseManifest, PromptFile):
        _, problems = manifests.validate_doc(doc, model)
        assert all(PROBLEM.match(str(p)) for p in problems)


@given(
    layout=st.sampled_from(["flow", "flow-mapping", "flow-one-line", "block", "block-mapping"]),
    n=st.integers(MAX_DEPTH + 1, 3000),
)
def test_nesting_of_any_depth_is_refused_at_a_bounded_cost(layout: str, n: int) -> None:
    """Contract: nesting deeper than MAX_DEPTH, however deep, is the Problem "nested
    more than 32 levels deep", after composing at most 2 * MAX_DEPTH + 2 nodes and
    scanning a bounded number of tokens: the work does not grow with the depth (it
    was a RecursionError at about 1,000 levels)."""
    if layout in ("block", "block-mapping", "flow-one-line"):
        n = min(n, 400)  # their size grows with n²; flow-one-line's cost is the scanner's
    with counted() as work:
        doc, [problem] = manifests.parse_yaml(nested(layout, n), SHOWN)
    assert doc is None
    assert problem.message == f"nested more than {MAX_DEPTH} levels deep (a manifest needs 3)"
    assert work.nodes <= 2 * MAX_DEPTH + 2  # a mapping's level has its key too
    assert work.tokens <= 2 * MAX_DEPTH + 1100  # the scanner's 1024-character look-ahead


@given(levels=st.integers(1, 40), width=st.integers(1, 40), prefix=st.booleans())
def test_alias_bombs_of_any_size_are_refused_at_their_first_anchor(
    levels: int, width: int, prefix: bool
) -> None:
    """Contract: an alias bomb (width**levels values once expanded: 9**9 from 374
    bytes took over a minute) is the Problem at its first anchor, after composing a
    bounded number of nodes, whatever its size."""
    head = "endpoint: demo-endpoint\n" if prefix else ""
    with counted() as work:
        doc, [problem] = manifests.parse_yaml(head + bomb(levels, width), SHOWN)
    assert doc is None
    assert str(problem) == (
        f"{SHOWN}:{1 + prefix}: l0: anchor &l0: anchors and aliases are not allowed "
        "(write the value out)"
    )
    assert work.nodes <= 6


@given(
    path=st.lists(st.sampled_from(["x", "model", "0"]), min_size=1, max_size=5),
    recursive=st.sampled_from(["&a [*a]", "&a {b: *a}", "&a [[*a]]", "*a", "&a x"]),
)
def test_recursive_and_plain_aliases_are_refused_with_their_field(
    path: list[str], recursive: str
) -> None:
    """Contract: any anchor or alias, recursive or not, at any depth, is the Problem
    naming its line and field (it was a RecursionError)."""
    text = "".join("  " * i + f"{key}:\n" for i, key in enumerate(path[:-1]))
    text += "  " * (len(path) - 1) + f"{path[-1]}: {recursive}\n"
    doc, [problem] = manifests.parse_yaml(text, SHOWN)
    assert doc is None
    assert problem.line == len(path) and problem.field == ".".join(path)
    assert "anchors and aliases are not allowed" in problem.message


@settings(max_examples=40)  # each example is a checkout on disk
@given(data=mutated(MANIFEST), extra=any_text | yamlish)
def test_the_catalog_and_the_commands_never_raise(data: Any, extra: str) -> None:
    """Contract of load_catalog and `manifest validate`: a checkout with a mutated
    manifest and a file of any text is validated (exit 0) or prints its Problems (exit
    1); no exception."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("policies", "prompts"):
            shutil.copytree(ROOT / folder, root / folder)
        (root / "releases").mkdir()
        (root / SHOWN).write_text(dump(data), encoding="utf-8")
        (root / "releases" / "other.yaml").write_text(extra, encoding="utf-8", errors="replace")
        out: list[str] = []
        code = manifestcmd.validate(root, [], out=out.append)
        assert code in (0, 1)
        assert (code == 1) == any("problem(s)" in line for line in out)
