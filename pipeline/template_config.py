"""Render the application stack's CloudFormation template configuration.

Usage (pipeline/buildspec.yml):

    python pipeline/template_config.py --template template.yaml --out template-configuration.json

The Deploy stage's change set reads the file (CloudFormation action
``TemplateConfiguration``). Values, later ones winning:

1. ``pipeline/app-parameters.json`` when the repository has one (``{"Parameters":
   {...}}``, the same format): reviewed settings such as ``DriftSchedule``;
2. ``APP_PARAM_<Name>`` environment variables, which the Build project sets from the
   pipeline stack's parameters (account-specific: endpoint, role ARN, ...).

An empty value is left out, so the template's default applies. Everything is checked
here, before a change set exists, against template.yaml's own Parameters: unknown
names, required parameters (no Default) without a value, AllowedValues, AllowedPattern,
Min/MaxLength and Min/MaxValue. ``CreateEndpoint`` is never ``true``: the pipeline's
deploy role has no SageMaker permissions, and after the first release the workflow owns
the endpoint (README, "No endpoint yet?").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.validate_asl import load_template  # noqa: E402

ENV_PREFIX = "APP_PARAM_"
REPO_FILE = ROOT / "pipeline" / "app-parameters.json"
NEVER = {"CreateEndpoint": "true"}


class ConfigError(Exception):
    """The parameters would not make a valid change set; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _check(name: str, value: str, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        problems.append(f"{name}={value!r}: expected one of {spec['AllowedValues']}")
    if "AllowedPattern" in spec and not re.fullmatch(str(spec["AllowedPattern"]), value):
        problems.append(f"{name}={value!r}: expected to match {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        problems.append(f"{name}={value!r}: expected at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        problems.append(f"{name}={value!r}: expected at most {spec['MaxLength']} characters")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return [*problems, f"{name}={value!r}: expected a number"]
        if "MinValue" in spec and number < float(spec["MinValue"]):
            problems.append(f"{name}={value!r}: expected at least {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            problems.append(f"{name}={value!r}: expected at most {spec['MaxValue']}")
    return problems


def render(
    parameters: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str],
    repo_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template configuration for ``parameters`` (template.yaml's Parameters)."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, value in (repo_values or {}).items():
        values[name] = str(value)
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            values[key[len(ENV_PREFIX) :]] = value
    values = {name: value for name, value in values.items() if value != ""}
    for name, value in sorted(values.items()):
        spec = parameters.get(name)
        if spec is None:
            problems.append(f"{name}: not a parameter of the application template")
            continue
        if NEVER.get(name) == value:
            problems.append(
                f"{name}={value}: the pipeline never bootstraps an endpoint; create it once "
                "by hand (README, 'No endpoint yet?') and deploy CreateEndpoint=false"
            )
        problems.extend(_check(name, value, spec))
    for name, spec in sorted(parameters.items()):
        if "Default" not in spec and name not in values:
            problems.append(f"{name}: required (no Default in the template) and not set")
    if problems:
        raise ConfigError(problems)
    return {"Parameters": dict(sorted(values.items()))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--values", type=Path, default=REPO_FILE, help="optional JSON file")
    args = p.parse_args(argv)
    parameters = load_template(args.template).get("Parameters") or {}
    repo_values = None
    if args.values.exists():
        repo_values = json.loads(args.values.read_text(encoding="utf-8")).get("Parameters", {})
    try:
        config = render(parameters, os.environ, repo_values)
    except ConfigError as err:
        for problem in err.problems:
            print(f"template configuration: {problem}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name, value in config["Parameters"].items():
        print(f"  {name} = {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
