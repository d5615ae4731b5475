"""EventBridge Scheduler for the emulated account: moto creates no schedules from a
stack and fires none, so the emulator reads each ``AWS::Scheduler::Schedule`` of the
translated template, resolves its target and Input with the stack's parameters, and
invokes the target Lambda when asked (``fire``), as the scheduler would on its clock:
asynchronously with ``wait=False``, as the scheduler does; synchronously by default.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


class Unresolvable(ValueError):
    pass


def resolve(value: Any, params: dict[str, str], conditions: dict[str, Any]) -> Any:
    """The few intrinsic functions a schedule's Input uses: Ref, Fn::Sub, Fn::If,
    Fn::Equals, Fn::Not (parameters and pseudo parameters only)."""
    if isinstance(value, list):
        return [resolve(v, params, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: resolve(v, params, conditions) for k, v in value.items()}
    ((fn, arg),) = value.items()
    if fn == "Ref":
        if arg in params:
            return params[arg]
        if arg in PSEUDO:
            return PSEUDO[arg]
        raise Unresolvable(f"Ref {arg}")
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        names = {
            **PSEUDO,
            **params,
            **{k: resolve(v, params, conditions) for k, v in extra.items()},
        }

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                raise Unresolvable(f"${{{m.group(1)}}}")
            return str(names[m.group(1)])

        return re.sub(r"\$\{([A-Za-z0-9:]+)\}", sub, text)
    if fn == "Fn::If":
        name, yes, no = arg
        chosen = yes if resolve(conditions[name], params, conditions) else no
        return resolve(chosen, params, conditions)
    if fn == "Fn::Equals":
        a, b = (resolve(x, params, conditions) for x in arg)
        return a == b
    if fn == "Fn::Not":
        return not resolve(arg[0], params, conditions)
    if fn == "Condition":
        return resolve(conditions[arg], params, conditions)
    raise Unresolvable(fn)


def schedules(
    cfn_json: dict[str, Any], params: dict[str, str], functions: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Schedule logical id -> {"function": name, "input": dict, "expression": str}."""
    values = {
        k: str(v.get("Default", "")) for k, v in cfn_json.get("Parameters", {}).items()
    } | params
    conditions = cfn_json.get("Conditions", {})
    out: dict[str, dict[str, Any]] = {}
    for logical, res in cfn_json["Resources"].items():
        if res["Type"] != "AWS::Scheduler::Schedule":
            continue
        props = res["Properties"]
        target = props["Target"]
        arn = target["Arn"]
        ref = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
        if ref not in functions:
            continue
        raw = resolve(target.get("Input", "{}"), values, conditions)
        out[logical] = {
            "function": functions[ref],
            "input": json.loads(raw) if isinstance(raw, str) else raw,
            "expression": resolve(props["ScheduleExpression"], values, conditions),
        }
    return out


def fire(schedule: dict[str, Any], wait: bool = True) -> dict[str, Any]:
    """One scheduled invocation of the target Lambda with the schedule's Input.

    EventBridge Scheduler invokes a Lambda target asynchronously: ``wait=False`` does
    that (InvocationType Event), so Lambda's retries, destinations and dead-letter
    queue apply as on the scheduler's clock; it returns ``{"StatusCode": 202,
    "RequestId": ...}`` (the id the attempts and any invocation record carry).

    ``wait=True`` (the default) invokes synchronously instead, for a caller that wants
    the result (the drift demo, tests): the handler's response, or RuntimeError on a
    function error, and no retries. Neither models the scheduler's own RetryPolicy and
    DeadLetterConfig, which apply only when the invoke call itself fails.
    """
    lam = boto3.client("lambda")
    payload = json.dumps(schedule["input"]).encode()
    if not wait:
        resp = lam.invoke(
            FunctionName=schedule["function"], InvocationType="Event", Payload=payload
        )
        return {
            "StatusCode": resp["StatusCode"],
            "RequestId": resp["ResponseMetadata"].get("RequestId", ""),
        }
    resp = lam.invoke(FunctionName=schedule["function"], Payload=payload)
    body = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        raise RuntimeError(f"{schedule['function']} failed: {body}")
    return dict(body)
