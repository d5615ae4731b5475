"""Release manifests and prompt versions in a repository checkout: YAML with line
numbers, validation across files, serving-container resolution, and the git diff that
decides which manifests a pipeline run releases.

Layout (docs/manifests.md)::

    releases/<endpoint>.yaml        the desired candidate of one endpoint
    prompts/<name>/v<N>.yaml        prompt versions, never edited once released
    policies/<name>.json            release policies a manifest names
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from release_guard.canary import plan
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import PROMPT_NAME, StartRelease
from release_guard.manifest import (
    POLICY_NAME,
    FrameworkContainer,
    PromptFile,
    ReleaseManifest,
    start_request,
)
from release_guard.policy import parse_policy
from yaml.reader import ReaderError

RELEASES = "releases"
PROMPTS = "prompts"
POLICIES = "policies"
PROMPT_FILE = re.compile(r"^v([0-9]+)\.yaml$")
YAML_SUFFIXES = (".yaml", ".yml")
SDK_EXTRA = "pip install 'release-guard[sagemaker]'"

# Frameworks the SDK resolves through get_huggingface_llm_image_uri(backend, ...).
LLM_BACKENDS = {
    "huggingface-llm": "huggingface",  # Text Generation Inference (TGI)
    "huggingface-llm-neuronx": "huggingface-neuronx",
    "huggingface-tei": "huggingface-tei",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where a person finds it: file, line, field."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ManifestError(Exception):
    """Problems that stop a release before anything is deployed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- YAML with line numbers ------------------------------------------------------------


@dataclass
class Document:
    path: str  # as shown in messages: relative to the checkout
    data: Any
    root: yaml.Node | None

    def line(self, loc: Sequence[str | int] = ()) -> int | None:
        """The line of the field at ``loc`` (the key's line for a mapping entry), or of
        the nearest enclosing field the document has."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                # The last of equal keys: the one PyYAML keeps.
                match = next(
                    (
                        (k, v)
                        for k, v in reversed(node.value)
                        if getattr(k, "value", None) == str(part)
                    ),
                    None,
                )
                if match is None:
                    return line
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[Problem]:
    """PyYAML keeps the last of two equal keys; a manifest with both is a mistake."""
    out: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):  # any other key fails construction
                if key.value in seen:
                    line = key.start_mark.line + 1
                    out.append(Problem(path, line, key.value, "duplicate key (keep one)"))
                seen.add(key.value)
            out.extend(_duplicate_keys(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out.extend(_duplicate_keys(item, path))
    return out


# What a manifest or prompt version may be, far beyond any real one (a manifest nests
# 3 levels, its longest number is a count): past these, loading would no longer be
# linear in the file's size, or would recurse once per level.
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32  # nested mappings and lists
MAX_NUMBER_CHARS = 64  # int() of 4,301 digits raises; 1:2:3:... grows quadratically

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # as PyYAML counts lines


class _Refused(yaml.MarkedYAMLError):
    """What the manifest loader refuses though YAML allows it, with the field it is in."""

    def __init__(self, field: str, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.field = field


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader without what manifests never need and hostile input abuses:

    - anchors and aliases: ``x: &a [*a]`` is a recursive value (every walk of it
      recurses forever), and a few hundred bytes of aliases of aliases (billion
      laughs) expand nine-fold per level in every walk of the tree;
    - explicit tags: ``!!int abc`` or ``!!timestamp x`` raise from inside PyYAML's
      constructors, not as YAML errors;
    - nesting deeper than MAX_DEPTH: the composer recurses once per level;
    - numbers longer than MAX_NUMBER_CHARS, scalars that do not construct (``0x_``,
      ``2024-13-45``) and lone surrogates (``"\\ud800"``), refused here with their
      field rather than raised later.

    Each is refused at its line as soon as it is read, so the work stays linear.
    """

    def __init__(self, text: str) -> None:
        self._path: list[str | int] = []  # of the node being composed
        self._depth = 0
        super().__init__(text)

    def _refuse(self, problem: str, mark: Any) -> _Refused:
        return _Refused(clip(_dotted(self._path)), problem, mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        part: str | int | None = None
        if isinstance(parent, yaml.SequenceNode) and isinstance(index, int):
            part = index
        elif isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.ScalarNode):
            part = str(index.value)  # a value: its key names it (a key has no part)
        if part is not None:
            self._path.append(part)
        try:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                raise self._refuse(
                    f"alias *{clip(event.anchor)}: anchors and aliases are not allowed "
                    "(write the value out)",
                    event.start_mark,
                )
            if getattr(event, "anchor", None) is not None:
                raise self._refuse(
                    f"anchor &{clip(event.anchor)}: anchors and aliases are not allowed "
                    "(write the value out)",
                    event.start_mark,
                )
            if getattr(event, "tag", None) is not None:
                raise self._refuse(
                    f"tag {clip(event.tag)}: tags are not allowed (quote a value to make it text)",
                    event.start_mark,
                )
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                if self._depth >= MAX_DEPTH:
                    raise self._refuse(
                        f"nested more than {MAX_DEPTH} levels deep (a manifest needs 3)",
                        event.start_mark,
                    )
                self._depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self._depth -= 1
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.ScalarNode):
                self._check_scalar(node)
            return node
        finally:
            if part is not None:
                self._path.pop()

    def _check_scalar(self, node: yaml.ScalarNode) -> None:
        value = str(node.value)
        if node.tag in (_INT, _FLOAT) and len(value) > MAX_NUMBER_CHARS:
            raise self._refuse(
                f"a number of {len(value)} characters (at most {MAX_NUMBER_CHARS}; quote it "
                "if it is text)",
                node.start_mark,
            )
        if node.tag in (_INT, _FLOAT, _TIMESTAMP):
            try:
                self.construct_object(node)  # kept: construct_document reuses it
            except ValueError as err:
                raise self._refuse(
                    f"{clip(value)!r} is not a valid {node.tag.rsplit(':', 1)[-1]} ({err}; "
                    "quote it if it is text)",
                    node.start_mark,
                ) from None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise self._refuse(
                f"\\u{ord(value[err.start]):04x} is half of a surrogate pair, not a character",
                node.start_mark,
            ) from None


def clip(text: Any, limit: int = 60) -> str:
    """At most ``limit`` characters of ``text``: a message quotes input, never all of it."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_yaml(file: Path, shown: str) -> tuple[Document | None, list[Problem]]:
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                Problem(shown, None, "", f"{size} bytes: at most {MAX_FILE_BYTES} in a file")
            ]
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return None, [Problem(shown, None, "", f"cannot read: {err}")]
    return parse_yaml(text, shown)


def parse_yaml(text: str, shown: str) -> tuple[Document | None, list[Problem]]:
    """The document in ``text``, or why not as ``shown:line: [field:] message``: any
    problem of any input is a Problem, never an exception."""
    loader = None
    try:
        loader = _Loader(text)  # the Reader refuses control characters right here
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as err:
        return None, [_yaml_problem(err, text, shown)]
    finally:
        if loader is not None:
            loader.dispose()
    doc = Document(shown, data, root)
    return doc, _duplicate_keys(root, shown)


def _yaml_problem(err: yaml.YAMLError, text: str, shown: str) -> Problem:
    if isinstance(err, ReaderError) and isinstance(err.character, int):
        return Problem(
            shown,
            len(_LINE_BREAK.findall(text, 0, err.position)) + 1,
            "",
            f"not valid YAML: character U+{err.character:04X} is not allowed (control "
            f"characters are refused; in a double-quoted string write \\u{err.character:04x})",
        )
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(err, _Refused):
        return Problem(shown, line, err.field, str(err.problem))
    problem = getattr(err, "problem", None) or str(err)
    return Problem(shown, line, "", f"not valid YAML: {problem}")


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _dotted(loc: Sequence[str | int]) -> str:
    """``model.environment.HF_MODEL_ID``, ``prompt.parameters.stop[0]``; a key that is
    no plain word is quoted (``environment["a b"]``): a field is one line, read one way."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            out += f"[{json.dumps(str(part))}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (not in the schema: docs/manifests.md)"
    if error["type"] == "missing":
        return "required field is missing"
    msg = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] != "value_error" and isinstance(value, str | int | float | bool):
        msg += f", got {clip(repr(value), 80)}"
    return msg


def validate_doc[M: BaseModel](doc: Document, model: type[M]) -> tuple[M | None, list[Problem]]:
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        return None, [Problem(doc.path, doc.line(), "", f"expected a mapping, got {kind}")]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = tuple(e["loc"])
            problems.append(Problem(doc.path, doc.line(loc), _dotted(loc), _message(e)))
        return None, problems


# --- The checkout ------------------------------------------------------------------------


@dataclass
class Catalog:
    """What a checkout declares, validated: manifests by path, prompts by (name, N)."""

    root: Path
    manifests: dict[str, ReleaseManifest] = field(default_factory=dict)
    prompts: dict[tuple[str, int], PromptFile] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def prompt_for(self, manifest: ReleaseManifest) -> PromptFile | None:
        if manifest.prompt is None:
            return None
        return self.prompts[(manifest.prompt.name, manifest.prompt.version)]


def _rel(root: Path, file: Path) -> str:
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(file)


def manifest_files(root: Path) -> list[Path]:
    """releases/*.yaml, and *.yml so that it is reported rather than ignored."""
    folder = root / RELEASES
    return sorted(p for p in folder.glob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def prompt_files(root: Path) -> list[Path]:
    """YAML files under prompts/ (a README beside them is not a prompt)."""
    folder = root / PROMPTS
    return sorted(p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def _check_prompt(root: Path, file: Path, catalog: Catalog) -> None:
    shown = _rel(root, file)
    match = PROMPT_FILE.match(file.name)
    if file.parent.parent != root / PROMPTS or match is None:
        catalog.problems.append(
            Problem(shown, None, "", "prompt files are prompts/<name>/v<N>.yaml")
        )
        return
    doc, problems = load_yaml(file, shown)
    catalog.problems.extend(problems)
    if doc is None:
        return
    prompt, schema = validate_doc(doc, PromptFile)
    found = list(schema)
    if isinstance(doc.data, dict):
        name, version = doc.data.get("name"), doc.data.get("version")
        if isinstance(name, str) and name != file.parent.name:
            found.append(
                Problem(
                    shown,
                    doc.line(("name",)),
                    "name",
                    f"must be {file.parent.name!r}, the directory's name (got {name!r})",
                )
            )
        if isinstance(version, int) and version != int(match.group(1)):
            found.append(
                Problem(
                    shown,
                    doc.line(("version",)),
                    "version",
                    f"must be {int(match.group(1))}, as in the file name {file.name} "
                    f"(got {version})",
                )
            )
    catalog.problems.extend(sorted(found, key=lambda p: (p.line or 0, p.field)))
    if prompt is not None and not found and not problems:
        catalog.prompts[(prompt.name, prompt.version)] = prompt


def _policy(root: Path, name: str, catalog: Catalog) -> str | None:
    """None when policies/<name>.json exists and validates; else what is wrong."""
    if name in catalog.policies:
        return None
    file = root / POLICIES / f"{name}.json"
    if not file.is_file():
        known = sorted(p.stem for p in (root / POLICIES).glob("*.json"))
        return f"no policy {POLICIES}/{name}.json (policies: {', '.join(known) or 'none'})"
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            return f"{POLICIES}/{name}.json is {size} bytes: at most {MAX_FILE_BYTES}"
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return f"cannot read {POLICIES}/{name}.json: {err}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        return f"{POLICIES}/{name}.json is not JSON: {err.msg} at line {err.lineno}"
    except ValueError as err:  # json's own limit: an integer of more than 4,300 digits
        return f"{POLICIES}/{name}.json is not JSON this reads: {clip(err, 120)}"
    except RecursionError:  # json recurses once per level of nesting
        return f"{POLICIES}/{name}.json is nested too deeply to be a policy"
    try:
        parse_policy(doc, "policy")
    except InvalidReleaseRequest as err:
        return f"{POLICIES}/{name}.json is not a valid policy: {err}"
    catalog.policies[name] = doc
    return None


def _cross_checks(root: Path, file: Path, doc: Document, catalog: Catalog) -> list[Problem]:
    """What one file cannot tell: its name, the prompt version and policy it names.
    Run on the raw document, so they are reported with the schema's own errors."""
    data, out = doc.data, []
    endpoint = data.get("endpoint")
    if isinstance(endpoint, str) and endpoint != file.stem:
        out.append(
            Problem(
                doc.path,
                doc.line(("endpoint",)),
                "endpoint",
                f"must be {file.stem!r}: the file is releases/<endpoint>.yaml (got {endpoint!r})",
            )
        )
    pointer = data.get("prompt")
    if isinstance(pointer, dict):
        name, version = pointer.get("name"), pointer.get("version")
        named = isinstance(name, str) and re.fullmatch(PROMPT_NAME, name)
        if named and isinstance(version, int) and not isinstance(version, bool) and version > 0:
            path = f"{PROMPTS}/{name}/v{version}.yaml"
            if not (root / path).is_file():
                have = sorted(
                    int(m.group(1))
                    for p in (root / PROMPTS / str(name)).glob("v*.yaml")
                    if (m := PROMPT_FILE.match(p.name))
                )
                found = ", ".join(f"v{v}" for v in have) if have else "none"
                out.append(
                    Problem(
                        doc.path,
                        doc.line(("prompt", "version")),
                        "prompt.version",
                        f"{path} does not exist (versions of {name}: {found})",
                    )
                )
            elif (name, version) not in catalog.prompts:
                out.append(
                    Problem(
                        doc.path,
                        doc.line(("prompt",)),
                        "prompt",
                        f"{path} has errors (release-guard manifest validate {path})",
                    )
                )
    policy = data.get("policy")
    if isinstance(policy, str) and re.fullmatch(POLICY_NAME, policy):
        wrong = _policy(root, policy, catalog)
        if wrong:
            out.append(Problem(doc.path, doc.line(("policy",)), "policy", wrong))
    return out


def _check_manifest(root: Path, file: Path, catalog: Catalog) -> None:
    shown = _rel(root, file)
    if file.suffix != ".yaml":
        catalog.problems.append(Problem(shown, None, "", "manifests are releases/<endpoint>.yaml"))
        return
    doc, problems = load_yaml(file, shown)
    catalog.problems.extend(problems)
    if doc is None:
        return
    manifest, schema = validate_doc(doc, ReleaseManifest)
    cross = _cross_checks(root, file, doc, catalog) if isinstance(doc.data, dict) else []
    found = sorted([*schema, *cross], key=lambda p: (p.line or 0, p.field))
    catalog.problems.extend(found)
    if manifest is not None and not found and not problems:
        catalog.manifests[shown] = manifest


def load_catalog(root: Path, paths: Iterable[Path] = ()) -> Catalog:
    """Validate every prompt version and manifest of the checkout (a manifest is checked
    against the prompt version and policy it names). ``paths`` adds files outside the
    usual places and narrows the problems reported to those files."""
    root = root.resolve()
    catalog = Catalog(root)
    wanted = [p.resolve() for p in paths]
    prompts = prompt_files(root)
    manifests = manifest_files(root)
    for extra in wanted:
        if extra.is_file() and extra not in prompts and extra not in manifests:
            (prompts if extra.is_relative_to(root / PROMPTS) else manifests).append(extra)
    for file in prompts:
        _check_prompt(root, file, catalog)
    for file in manifests:
        _check_manifest(root, file, catalog)
    if wanted:
        shown = {_rel(root, p) for p in wanted}
        catalog.problems = [p for p in catalog.problems if p.path in shown]
    return catalog


# --- Serving containers by framework -------------------------------------------------------


def _sdk_function(candidates: Sequence[tuple[str, str]]) -> Any:
    """The first of (module, attribute) the installed sagemaker SDK has (v2 and v3
    keep image URIs in different modules)."""
    for module, attr in candidates:
        try:
            found = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


def resolve_image(container: FrameworkContainer, region: str, instance_type: str) -> str:
    """The regional ECR image of a SageMaker serving container, by the sagemaker SDK's
    image-URI lookup (an optional extra: never a Lambda dependency)."""
    try:
        importlib.import_module("sagemaker")
    except ImportError:
        raise ValueError(
            f"model.container ({container.framework} {container.version}) is resolved with "
            f"the sagemaker SDK, which is not installed: {SDK_EXTRA}, or give model.image "
            "(the image URI) instead"
        ) from None
    backend = LLM_BACKENDS.get(container.framework)
    try:
        if backend is not None:
            llm = _sdk_function(
                [
                    ("sagemaker.huggingface", "get_huggingface_llm_image_uri"),
                    ("sagemaker.core.huggingface.llm_utils", "get_huggingface_llm_image_uri"),
                ]
            )
            if llm is not None:
                return str(llm(backend, region=region, version=container.version))
        retrieve = _sdk_function(
            [("sagemaker.image_uris", "retrieve"), ("sagemaker.core.image_uris", "retrieve")]
        )
        if retrieve is None:
            raise ValueError(f"this sagemaker SDK has no image_uris.retrieve: {SDK_EXTRA}")
        return str(
            retrieve(
                framework=container.framework,
                region=region,
                version=container.version,
                image_scope="inference",
                instance_type=instance_type,
            )
        )
    except (ValueError, KeyError) as err:  # the SDK's own "unsupported version" errors
        raise ValueError(
            f"model.container: the sagemaker SDK has no {container.framework} "
            f"{container.version} image in {region}: {err}"
        ) from err


# --- git ---------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def changed_paths(root: Path, ref: str) -> dict[str, str]:
    """Manifest and prompt files that differ between ``ref`` and HEAD: path (relative to
    ``root``) -> git status letter (A added, M modified, D deleted, T type change)."""
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RuntimeError:
        raise RuntimeError(
            f"--changed-from {ref}: no such commit in this checkout (a shallow clone? "
            "fetch the history the ref needs, e.g. git fetch --deepen=1)"
        ) from None
    out = git(
        root,
        "diff",
        "--name-status",
        "--no-renames",
        "--relative",
        ref,
        "HEAD",
        "--",
        RELEASES,
        PROMPTS,
    )
    changed = {}
    for line in out.splitlines():
        status, _, path = line.partition("\t")
        if path:
            changed[path] = status[:1]
    return changed


def requested_by(root: Path) -> str:
    """Who asked: the CodeBuild initiator, else HEAD's author."""
    initiator = os.environ.get("CODEBUILD_INITIATOR")
    if initiator:
        return initiator[:256]
    return git(root, "log", "-1", "--format=%an <%ae>", "HEAD").strip()[:256] or "git"


# --- From a diff to StartRelease requests --------------------------------------------------


@dataclass(frozen=True)
class Planned:
    manifest: str  # releases/<endpoint>.yaml
    reason: str
    request: StartRelease


def _package_version(arn: str) -> int | None:
    last = arn.rsplit("/", 1)[-1]
    return int(last) if last.isdigit() else None


def plan_releases(
    root: Path,
    ref: str,
    region: str | None = None,
    who: str | None = None,
) -> tuple[list[Planned], list[str]]:
    """(the releases the diff asks for, notes on changes that release nothing).
    Raises ManifestError when anything in the checkout is invalid: nothing starts."""
    root = root.resolve()
    catalog = load_catalog(root)
    if catalog.problems:
        raise ManifestError(catalog.problems)
    changed = changed_paths(root, ref)
    head = git(root, "rev-parse", "HEAD").strip()
    who = who or requested_by(root)
    notes = [
        f"{path}: deleted; a removed manifest releases nothing (the endpoint keeps serving)"
        for path, status in sorted(changed.items())
        if status == "D" and path.startswith(f"{RELEASES}/")
    ]
    planned: list[Planned] = []
    problems: list[Problem] = []
    used_prompts: set[str] = set()
    for path, manifest in sorted(catalog.manifests.items()):
        reasons = []
        if changed.get(path) in ("A", "M", "T"):
            reasons.append("manifest added" if changed[path] == "A" else "manifest changed")
        prompt_status = None
        if manifest.prompt is not None:
            prompt_path = manifest.prompt.path
            used_prompts.add(prompt_path)
            prompt_status = changed.get(prompt_path)
            if prompt_status in ("A", "M", "T"):
                reasons.append(
                    f"prompt {prompt_path} {'added' if prompt_status == 'A' else 'changed'}"
                )
        if not reasons:
            continue
        prompt = catalog.prompt_for(manifest)
        try:
            request = _request(manifest, prompt, catalog, region, who, head, prompt_status)
        except ValueError as err:
            problems.append(Problem(path, None, "", str(err)))
            continue
        planned.append(Planned(path, "; ".join(reasons), request))
    for path, status in sorted(changed.items()):
        if path.startswith(f"{PROMPTS}/") and status != "D" and path not in used_prompts:
            notes.append(f"{path}: no manifest names this prompt version; nothing to release")
    if problems:
        raise ManifestError(problems)
    return planned, notes


def _request(
    manifest: ReleaseManifest,
    prompt: PromptFile | None,
    catalog: Catalog,
    region: str | None,
    who: str,
    head: str,
    prompt_status: str | None,
) -> StartRelease:
    image = None
    if manifest.model.container is not None:
        image = resolve_image(manifest.model.container, region or _region(), manifest.instance.type)
    policy = catalog.policies.get(manifest.policy) if manifest.policy else None
    draft = start_request(manifest, prompt, image=image, policy=policy)
    ref = draft.prompt
    # One release per manifest and commit: a retried pipeline run finds its release
    # ("duplicate") instead of starting a second one.
    release_id = plan.release_id_for(manifest.endpoint, draft.model_key, f"git:{head}", ref)
    variant = None
    if ref is not None and prompt_status == "M" and manifest.variant is None:
        # The version was edited in place: the variant serving the old text has the
        # same default name, so this one carries the configuration's digest.
        version = _package_version(draft.model_package_arn) if draft.model_package_arn else None
        base = plan.candidate_variant_name(draft.model_key, version, ref)
        variant = f"{base}-{ref.digest[:6]}"
    return start_request(
        manifest,
        prompt,
        image=image,
        policy=policy,
        trigger="pipeline",
        requested_by=who,
        release_id=release_id,
        candidate_variant=variant,
    )


def _region() -> str:
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise ValueError("no AWS region to resolve model.container in (set AWS_REGION or --region)")
    return str(region)
