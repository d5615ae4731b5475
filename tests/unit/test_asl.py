"""The release workflow is wired to the template and routes only errors that exist."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scripts import validate_asl

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachines/release.asl.json"
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads(ASL.read_text())


@pytest.fixture(scope="module")
def subs() -> dict[str, Any]:
    template = validate_asl.load_template(TEMPLATE)
    _, machine = validate_asl.find_state_machine(template, ASL)
    return machine["Properties"]["DefinitionSubstitutions"]


def test_every_placeholder_has_a_substitution(subs: dict[str, Any]) -> None:
    used = validate_asl.placeholders(ASL.read_text())
    assert used, "the ASL names its Lambda ARNs only as ${Placeholders}"
    assert used - subs.keys() == set()


def test_every_substitution_is_used(subs: dict[str, Any]) -> None:
    assert subs.keys() - validate_asl.placeholders(ASL.read_text()) == set()


def test_substitutions_are_function_arns(subs: dict[str, Any]) -> None:
    for name, value in subs.items():
        assert value == {"Fn::GetAtt": [name.removesuffix("Arn"), "Arn"]}, name


def test_every_error_equals_is_a_known_error(asl: dict[str, Any]) -> None:
    known = validate_asl.error_classes()
    assert {"TransientError", "EndpointBusy", "ReleaseLocked"} <= known
    names = {n for *_, ns in validate_asl.error_lists(asl) for n in ns}
    unknown = {n for n in names if not n.startswith(("States.", "Lambda.")) and n not in known}
    assert unknown == set()


def test_the_release_definition_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    problems, counts = validate_asl.validate(ASL, TEMPLATE)
    assert problems == []
    assert counts["placeholders"] == 12
    assert validate_asl.main([str(ASL), "--template", str(TEMPLATE)]) == 0
    assert capsys.readouterr().out.startswith("OK ")


# ------------------------------------------------------------------ broken copies
def _states(d: dict[str, Any]) -> dict[str, Any]:
    return d["States"]


def _bad_next(d: dict[str, Any]) -> None:
    _states(d)["Bake"]["Next"] = "Judge Canery"


def _bad_type(d: dict[str, Any]) -> None:
    _states(d)["Bake"]["Type"] = "Sleep"


def _unknown_error(d: dict[str, Any]) -> None:
    _states(d)["Judge Canary"]["Retry"][0]["ErrorEquals"].append("TransientEror")


def _unreachable(d: dict[str, Any]) -> None:
    _states(d)["Orphan"] = {"Type": "Succeed"}


def _endless_loop(d: dict[str, Any]) -> None:
    # Keep Baking -> Judge Canary -> ... with the verdict's only exits removed.
    _states(d)["Judge Canary"].pop("Catch")
    _states(d)["Canary Verdict?"]["Choices"] = [
        {"Variable": "$.x", "StringEquals": "a", "Next": "Keep Baking"}
    ]
    _states(d)["Canary Verdict?"]["Default"] = "Keep Baking"


def _missing_substitution(d: dict[str, Any]) -> None:
    _states(d)["Bake"] = {
        "Type": "Task",
        "Resource": "${DriftCheckFunctionArn}",
        "Next": "Judge Canary",
    }


def _states_all_first(d: dict[str, Any]) -> None:
    catch = _states(d)["Acquire Release Lock"]["Catch"]
    catch.reverse()


def _next_and_end(d: dict[str, Any]) -> None:
    _states(d)["Bake"]["End"] = True


def _bad_start(d: dict[str, Any]) -> None:
    d["StartAt"] = "Prepare"


BROKEN = {
    "next to a missing state": (_bad_next, "is not a state"),
    "unknown state type": (_bad_type, "ASL syntax"),
    "unknown error name": (_unknown_error, "'TransientEror' is not States.*"),
    "unreachable state": (_unreachable, "unreachable from StartAt"),
    "endless loop": (_endless_loop, "no path to a terminal state"),
    "placeholder without substitution": (_missing_substitution, "${DriftCheckFunctionArn}"),
    "States.ALL before another catcher": (_states_all_first, "States.ALL must be alone"),
    "both Next and End": (_next_and_end, "exactly one of Next or End"),
    "StartAt a missing state": (_bad_start, "StartAt 'Prepare'"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_definition_is_rejected(
    case: str, asl: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, expected = BROKEN[case]
    broken = copy.deepcopy(asl)
    mutate(broken)
    path = tmp_path / ASL.name  # same file name: the template's DefinitionUri points at it
    path.write_text(json.dumps(broken, indent=2))

    assert validate_asl.main([str(path), "--template", str(TEMPLATE)]) == 1
    err = capsys.readouterr().err
    assert expected in err, err


def test_invalid_json_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ASL.name
    path.write_text(ASL.read_text().replace('"StartAt"', "StartAt", 1))
    assert validate_asl.main([str(path), "--template", str(TEMPLATE)]) == 1
    assert "invalid JSON" in capsys.readouterr().err


def test_an_unused_substitution_is_reported(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    marker = "      DefinitionSubstitutions:\n"
    assert marker in text
    template = tmp_path / "template.yaml"
    template.write_text(
        text.replace(marker, marker + "        StaleFunctionArn: !GetAtt StaleFunction.Arn\n")
    )
    problems, _ = validate_asl.validate(ASL, template)
    assert "DefinitionSubstitutions.StaleFunctionArn is not used in the definition" in problems
    assert any("missing resource StaleFunction" in p for p in problems)


def test_a_called_function_needs_an_invoke_policy(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    line = "        - LambdaInvokePolicy: {FunctionName: !Ref RollBackFunction}\n"
    assert line in text
    template = tmp_path / "template.yaml"
    template.write_text(text.replace(line, ""))
    problems, _ = validate_asl.validate(ASL, template)
    assert problems == ["state machine calls RollBackFunction but has no LambdaInvokePolicy for it"]


def test_the_execution_timeout_is_the_longest_worst_case_a_policy_may_have() -> None:
    from release_guard import limits

    definition = json.loads((ROOT / "statemachines" / "release.asl.json").read_text())
    assert definition["TimeoutSeconds"] == limits.MAX_RELEASE_SECONDS
