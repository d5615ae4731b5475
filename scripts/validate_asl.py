"""Validate the release state machine against the SAM template and the error classes.

Usage: python scripts/validate_asl.py statemachines/release.asl.json --template template.yaml

Checks, in order:
1. every ``${Placeholder}`` in the ASL has a DefinitionSubstitutions entry in the
   template, and every entry is used; each entry points at a resource that exists,
   and every function the workflow calls is covered by a LambdaInvokePolicy;
2. with fake but well-formed ARNs substituted, the definition passes moto's ASL
   parser and static analyser (what CreateStateMachine runs);
3. structure, which that parser does not check: StartAt and every Next/Default target
   exist, Next/End rules per state type, every state is reachable from StartAt and
   can reach a terminal state, States.ALL is alone and last;
4. every ErrorEquals name is ``States.*``, ``Lambda.*`` or a class in errors.py.

Importable: tests call ``validate()`` and get the list of problems back.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ERRORS_PY = ROOT / "layers/release_guard/python/release_guard/errors.py"
STATE_MACHINE_TYPES = {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")
FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "us-east-1"

# States whose flow continues (Next or End) vs. those that end or branch by themselves.
FLOW_TYPES = {"Task", "Pass", "Wait", "Parallel", "Map"}
TERMINAL_TYPES = {"Succeed", "Fail"}


class ASLValidationError(Exception):
    """The definition or its wiring is wrong; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# ------------------------------------------------------------------ loading
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags as their long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation/SAM YAML template as plain data (short tags -> long form)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ASLValidationError([f"{path}: not a template (no Resources mapping)"])
    return data


def error_classes(path: Path = ERRORS_PY) -> set[str]:
    """Names of the classes defined in errors.py (read, not imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def find_state_machine(template: dict[str, Any], asl_path: Path) -> tuple[str, dict[str, Any]]:
    """The state machine resource whose DefinitionUri is ``asl_path`` (or the only one)."""
    machines = {
        name: res
        for name, res in template["Resources"].items()
        if isinstance(res, dict) and res.get("Type") in STATE_MACHINE_TYPES
    }
    for name, res in machines.items():
        uri = (res.get("Properties") or {}).get("DefinitionUri")
        if isinstance(uri, str) and Path(uri).name == asl_path.name:
            return name, res
    if len(machines) == 1:
        return next(iter(machines.items()))
    raise ASLValidationError([f"no state machine in the template uses {asl_path.name}"])


# ------------------------------------------------------------------ substitutions
def _target(value: Any) -> str | None:
    """Logical ID behind !GetAtt X.Arn / !Ref X, else None."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0]) if isinstance(att, list) and att else None
        if "Ref" in value:
            return str(value["Ref"])
    return None


def fake_value(key: str, value: Any, resources: dict[str, Any]) -> str:
    """A well-formed stand-in for what CloudFormation would substitute."""
    target = _target(value)
    rtype = (resources.get(target) or {}).get("Type") if target else None
    if rtype in FUNCTION_TYPES:
        return f"arn:aws:lambda:{FAKE_REGION}:{FAKE_ACCOUNT}:function:{target}"
    if rtype in STATE_MACHINE_TYPES:
        return f"arn:aws:states:{FAKE_REGION}:{FAKE_ACCOUNT}:stateMachine:{target}"
    if rtype == "AWS::SNS::Topic":
        return f"arn:aws:sns:{FAKE_REGION}:{FAKE_ACCOUNT}:{target}"
    if isinstance(value, str | int | float):
        return str(value)
    return key


def check_substitutions(
    text: str, template: dict[str, Any], machine: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """Problems with the placeholder wiring, and the fake value for each placeholder."""
    problems: list[str] = []
    resources: dict[str, Any] = template["Resources"]
    props = machine.get("Properties") or {}
    subs: dict[str, Any] = props.get("DefinitionSubstitutions") or {}
    used = placeholders(text)
    for name in sorted(used - subs.keys()):
        problems.append(f"placeholder ${{{name}}} has no DefinitionSubstitutions entry")
    for name in sorted(subs.keys() - used):
        problems.append(f"DefinitionSubstitutions.{name} is not used in the definition")
    for name, value in sorted(subs.items()):
        target = _target(value)
        if target is not None and target not in resources:
            problems.append(f"DefinitionSubstitutions.{name} points at missing resource {target}")

    # Every function the workflow calls needs lambda:InvokeFunction on the machine's role.
    targets = {_target(value) for value in subs.values()}
    invoked = {t for t in targets if t and (resources.get(t) or {}).get("Type") in FUNCTION_TYPES}
    allowed = {
        _target(policy["LambdaInvokePolicy"].get("FunctionName"))
        for policy in props.get("Policies") or []
        if isinstance(policy, dict) and isinstance(policy.get("LambdaInvokePolicy"), dict)
    }
    for fn in sorted(invoked - allowed):
        problems.append(f"state machine calls {fn} but has no LambdaInvokePolicy for it")
    fakes = {name: fake_value(name, value, resources) for name, value in subs.items()}
    return problems, fakes


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ${Name} in the raw text so parser line numbers match the file."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


# ------------------------------------------------------------------ moto's parser
def check_with_moto(definition: str) -> list[str]:
    """Run the parser and static analyser that moto's CreateStateMachine runs."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    try:
        StaticAnalyser().analyse(definition)
    except ASLParserException as err:
        return [f"ASL syntax: {e}" for e in err.errors] or ["ASL syntax error"]
    except Exception as err:  # the preprocessor raises plain errors for semantic faults
        return [f"ASL semantics: {type(err).__name__}: {str(err)[:300]}"]
    return []


# ------------------------------------------------------------------ structure
def _machines(asl: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """The top-level machine and every nested one (Parallel branches, Map processors)."""
    yield where or "definition", asl
    for name, state in (asl.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        for i, branch in enumerate(state.get("Branches") or []):
            yield from _machines(branch, f"{where}{name}.Branches[{i}].")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _machines(state[key], f"{where}{name}.{key}.")


def _targets(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, target) for every transition out of a state."""
    out = []
    if "Next" in state:
        out.append(("Next", state["Next"]))
    if "Default" in state:
        out.append(("Default", state["Default"]))
    for i, rule in enumerate(state.get("Choices") or []):
        if isinstance(rule, dict) and "Next" in rule:
            out.append((f"Choices[{i}].Next", rule["Next"]))
    for i, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, dict) and "Next" in catcher:
            out.append((f"Catch[{i}].Next", catcher["Next"]))
    return out


def check_structure(asl: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for where, machine in _machines(asl):
        states: dict[str, Any] = machine.get("States") or {}
        start = machine.get("StartAt")
        if not states:
            problems.append(f"{where}: no States")
            continue
        if start not in states:
            problems.append(f"{where}: StartAt {start!r} is not a state")
        edges: dict[str, set[str]] = {}
        terminal: set[str] = set()
        for name, state in states.items():
            stype = state.get("Type") if isinstance(state, dict) else None
            if stype is None:
                problems.append(f"state {name!r}: no Type")
                continue
            has_next, ends = "Next" in state, state.get("End") is True
            if stype in FLOW_TYPES and has_next == ends:
                problems.append(f"state {name!r} ({stype}): needs exactly one of Next or End")
            if stype not in FLOW_TYPES and (has_next or "End" in state):
                problems.append(f"state {name!r} ({stype}): must not have Next or End")
            if stype == "Choice":
                for i, rule in enumerate(state.get("Choices") or []):
                    if "Next" not in rule:
                        problems.append(f"state {name!r}: Choices[{i}] has no Next")
                if not state.get("Choices"):
                    problems.append(f"state {name!r}: Choice with no Choices")
            if stype in TERMINAL_TYPES or ends:
                terminal.add(name)
            edges[name] = set()
            for field, target in _targets(state):
                if target not in states:
                    problems.append(f"state {name!r}: {field} -> {target!r} is not a state")
                else:
                    edges[name].add(target)
        if start not in states:
            continue
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for name in states:
            if name not in seen:
                problems.append(f"state {name!r}: unreachable from StartAt {start!r}")
        # Backwards from the terminal states: who can finish?
        finishes = set(terminal)
        changed = True
        while changed:
            changed = False
            for name, outs in edges.items():
                if name not in finishes and outs & finishes:
                    finishes.add(name)
                    changed = True
        for name in states:
            if name in seen and name not in finishes:
                problems.append(f"state {name!r}: no path to a terminal state (endless loop)")
    return problems


def error_lists(asl: dict[str, Any]) -> Iterator[tuple[str, str, int, int, list[Any]]]:
    """(state, Retry|Catch, index, count, ErrorEquals) for every retrier and catcher."""
    for _, machine in _machines(asl):
        for name, state in (machine.get("States") or {}).items():
            for kind in ("Retry", "Catch"):
                rules = state.get(kind) or [] if isinstance(state, dict) else []
                for i, rule in enumerate(rules):
                    if isinstance(rule, dict):
                        yield name, kind, i, len(rules), list(rule.get("ErrorEquals") or [])


def check_errors(asl: dict[str, Any], known: set[str]) -> list[str]:
    problems = []
    for state, kind, i, count, names in error_lists(asl):
        where = f"state {state!r} {kind}[{i}]"
        if not names:
            problems.append(f"{where}: empty ErrorEquals")
        for err in names:
            if not isinstance(err, str):
                problems.append(f"{where}: ErrorEquals entry {err!r} is not a string")
            elif not (err.startswith(("States.", "Lambda.")) or err in known):
                problems.append(
                    f"{where}: {err!r} is not States.*, Lambda.* or a class in errors.py"
                )
        # Step Functions rejects States.ALL beside other names or before another rule.
        if "States.ALL" in names and (len(names) > 1 or i != count - 1):
            problems.append(f"{where}: States.ALL must be alone and in the last {kind} rule")
    return problems


# ------------------------------------------------------------------ entry points
def validate(
    asl_path: Path, template_path: Path, errors_path: Path = ERRORS_PY
) -> tuple[list[str], dict[str, int]]:
    """All problems found (empty when valid) and a few counts for the summary."""
    text = asl_path.read_text(encoding="utf-8")
    template = load_template(template_path)
    _, machine = find_state_machine(template, asl_path)
    problems, fakes = check_substitutions(text, template, machine)
    definition = substitute(text, fakes)
    try:
        asl = json.loads(definition)
    except json.JSONDecodeError as err:
        return [*problems, f"{asl_path}: invalid JSON: {err}"], {}
    if not isinstance(asl, dict):
        return [*problems, f"{asl_path}: top level is not an object"], {}
    problems += check_with_moto(definition)
    problems += check_structure(asl)
    problems += check_errors(asl, error_classes(errors_path))
    counts = {
        "states": sum(len(m.get("States") or {}) for _, m in _machines(asl)),
        "placeholders": len(placeholders(text)),
        "error_names": len({e for *_, names in error_lists(asl) for e in names}),
    }
    return problems, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("asl", type=Path, help="state machine definition (JSON)")
    parser.add_argument("--template", type=Path, required=True, help="SAM template")
    parser.add_argument("--errors", type=Path, default=ERRORS_PY, help="errors.py to check against")
    args = parser.parse_args(argv)
    try:
        problems, counts = validate(args.asl, args.template, args.errors)
    except (OSError, yaml.YAMLError) as err:
        print(f"validate_asl: {err}", file=sys.stderr)
        return 2
    except ASLValidationError as err:
        problems, counts = err.problems, {}
    if problems:
        print(f"validate_asl: {args.asl}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        f"OK {args.asl}: {counts['states']} states, {counts['placeholders']} placeholders "
        f"substituted, {counts['error_names']} error names known; parser, reachability "
        f"and termination checks passed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
