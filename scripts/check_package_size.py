"""Check every built function against Lambda's 250 MB unzipped limit.

Usage: python scripts/check_package_size.py .aws-sam/build [--limit-mb 250]

Lambda counts a function's code plus all of its layers, unzipped, against one quota
of 262,144,000 bytes. This reads the template ``sam build`` wrote, finds each
function's code dir and the layers it uses (Globals first, then its own), and
prints each layer, each function and the total. Exit 1 if a function is over the
limit, 2 if the build dir cannot be read.

Stdlib only: ``make build`` runs it with a bare python3.12, which has no PyYAML. The
built template is SAM CLI's block-style dump with long-form intrinsics, which the
small reader below covers; anything it does not need is skipped, not interpreted.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1024 * 1024
LIMIT_BYTES = 250 * MB  # 262,144,000: Lambda's unzipped code + layers quota

FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}

# ------------------------------------------------------------------ YAML subset
# "key:" or "key: value", the key plain or quoted; "a:b" (no space after ":") is no key.
_KEY = re.compile(r"""^((?:'[^']*')+|"(?:[^"\\]|\\.)*"|[^\s'"#\-][^#]*?|-\S[^#]*?):(?:\s+(.*))?$""")


@dataclass
class _Line:
    indent: int
    text: str


def _lines(source: str) -> list[_Line]:
    out = []
    for raw in source.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        out.append(_Line(len(raw) - len(raw.lstrip(" ")), stripped))
    return out


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if text.startswith("!Ref "):  # short form, should SAM ever keep it
        return {"Ref": text[5:].strip()}
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(part) for part in text[1:-1].split(",") if part.strip()]
    return text


class _Reader:
    """Block mappings, block sequences and scalars (multi-line ones folded)."""

    def __init__(self, source: str) -> None:
        self.lines = _lines(source)
        self.pos = 0

    def parse(self) -> Any:
        if not self.lines:
            return {}
        return self._node(self.lines[0].indent)

    def _node(self, indent: int) -> Any:
        line = self.lines[self.pos]
        if line.text == "-" or line.text.startswith("- "):
            return self._sequence(indent)
        if _KEY.match(line.text):
            return self._mapping(indent)
        self.pos += 1
        return _scalar(self._fold(line.text, indent))

    def _fold(self, first: str, indent: int) -> str:
        """A scalar and its continuation lines (indented deeper than ``indent``)."""
        parts = [first]
        while self.pos < len(self.lines) and self.lines[self.pos].indent > indent:
            parts.append(self.lines[self.pos].text)
            self.pos += 1
        return " ".join(parts)

    def _value(self, rest: str | None, indent: int) -> Any:
        """What follows ``key:`` (or ``-``) at ``indent``."""
        if rest and rest[0] in "|>":  # block scalar: keep its lines, meaning unneeded
            return self._fold("", indent).strip()
        if rest:
            return _scalar(self._fold(rest, indent))
        if self.pos >= len(self.lines):
            return None
        nxt = self.lines[self.pos]
        if nxt.indent > indent:
            return self._node(nxt.indent)
        # PyYAML writes a mapping's sequence at the key's own indent.
        if nxt.indent == indent and (nxt.text == "-" or nxt.text.startswith("- ")):
            return self._sequence(indent)
        return None

    def _mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            match = _KEY.match(line.text)
            if line.indent != indent or not match:
                break
            self.pos += 1
            key = _scalar(match.group(1))
            out[str(key)] = self._value(match.group(2), indent)
        return out

    def _sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent != indent or not (line.text == "-" or line.text.startswith("- ")):
                break
            rest = line.text[1:].strip()
            if rest and _KEY.match(rest):
                # "- key: v": a mapping whose keys sit two columns right of the dash.
                self.lines[self.pos] = _Line(indent + 2, rest)
                out.append(self._mapping(indent + 2))
            else:
                self.pos += 1
                out.append(self._value(rest or None, indent))
        return out


def read_template(path: Path) -> dict[str, Any]:
    data = _Reader(path.read_text(encoding="utf-8")).parse()
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ValueError(f"{path}: no Resources mapping")
    return data


# ------------------------------------------------------------------ sizes
def dir_size(path: Path) -> int:
    """Bytes of regular files under ``path``; symlinks count as themselves, once."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


@dataclass
class FunctionSize:
    name: str
    code: int
    layers: dict[str, int] = field(default_factory=dict)
    unmeasured: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.code + sum(self.layers.values())


def _layer_refs(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _local_dir(build: Path, uri: Any) -> Path | None:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        return None
    path = Path(uri)
    return path if path.is_absolute() else build / path


def measure(build: Path) -> tuple[dict[str, int], list[FunctionSize]]:
    """Sizes of each built layer and of each function with its layers."""
    template = read_template(build / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    globals_fn = (template.get("Globals") or {}).get("Function") or {}

    layers: dict[str, int] = {}
    for name, res in resources.items():
        if isinstance(res, dict) and res.get("Type") in LAYER_TYPES:
            props = res.get("Properties") or {}
            local = _local_dir(build, props.get("ContentUri", props.get("Content")))
            if local is None or not local.is_dir():
                raise FileNotFoundError(f"layer {name}: built dir {local} not found")
            layers[name] = dir_size(local)

    functions = []
    for name, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") not in FUNCTION_TYPES:
            continue
        props = res.get("Properties") or {}
        if props.get("PackageType") == "Image":
            continue  # image functions have a 10 GB image limit instead
        local = _local_dir(build, props.get("CodeUri", props.get("Code")))
        if local is None or not local.is_dir():
            raise FileNotFoundError(f"function {name}: built dir {local} not found")
        size = FunctionSize(name, dir_size(local))
        # SAM appends a function's own Layers to the Globals list.
        for ref in _layer_refs(globals_fn.get("Layers")) + _layer_refs(props.get("Layers")):
            target = ref.get("Ref") if isinstance(ref, dict) else None
            if target in layers:
                size.layers[target] = layers[target]
            else:
                size.unmeasured.append(str(ref))
        functions.append(size)
    return layers, functions


def _mb(n: int) -> str:
    """MiB, as Lambda counts its "250 MB" (KiB below one, so small code is not 0.0)."""
    return f"{n / MB:8.1f} MB" if n >= MB else f"{n / 1024:8.1f} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="sam build output, e.g. .aws-sam/build")
    parser.add_argument("--limit-mb", type=float, default=LIMIT_BYTES / MB)
    args = parser.parse_args(argv)
    limit = int(args.limit_mb * MB)

    try:
        layers, functions = measure(args.build_dir)
    except (OSError, ValueError) as err:
        print(f"check_package_size: {err}", file=sys.stderr)
        return 2
    if not functions:
        print(f"check_package_size: no functions in {args.build_dir}", file=sys.stderr)
        return 2

    for name, size in sorted(layers.items()):
        print(f"layer     {name:<28}{_mb(size)}")
    over = []
    for fn in sorted(functions, key=lambda f: f.name):
        flag = "OVER" if fn.total > limit else "ok"
        print(
            f"function  {fn.name:<28}{_mb(fn.code)} code + {_mb(fn.total - fn.code)} layers"
            f" = {_mb(fn.total)}  {flag}"
        )
        for ref in fn.unmeasured:
            print(f"  warning: layer {ref} is not in the build dir; not counted")
        if fn.total > limit:
            over.append(fn)
    biggest = max(functions, key=lambda f: f.total)
    print(
        f"largest: {biggest.name} {biggest.total / MB:.1f} MB of {limit / MB:.0f} MB"
        f" ({limit - biggest.total:,} bytes to spare)"
    )
    if over:
        names = ", ".join(f.name for f in over)
        print(f"check_package_size: over the unzipped limit: {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
