"""Deploy the real template.yaml into the emulated account.

What `sam package` + `sam deploy` do, offline: zip local code to S3, translate the
SAM template with aws-sam-translator, create the stack in moto's CloudFormation.
Then the fix-ups moto needs (it ignores DefinitionSubstitutions) are applied here.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from release_guard_cli.emulator import scheduler
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ARTIFACTS = "rg-emulator-artifacts"


@dataclass
class Stack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    functions: dict[str, Path] = field(default_factory=dict)  # function name -> code dir
    skipped: list[str] = field(default_factory=list)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)  # see scheduler.py


def _zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                zf.write(f, f.relative_to(path))
    return buf.getvalue()


def package(template: dict[str, Any], root: Path) -> dict[str, Path]:
    """Upload local CodeUri/ContentUri to S3, inline the ASL; return S3 key -> dir."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    uploaded: dict[str, Path] = {}
    for logical, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                path = (root / uri).resolve()
                s3_key = f"{logical}.zip"
                s3.put_object(Bucket=ARTIFACTS, Key=s3_key, Body=_zip_dir(path))
                props[key] = f"s3://{ARTIFACTS}/{s3_key}"
                uploaded[s3_key] = path
        uri = props.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["Definition"] = json.loads((root / uri).read_text())
            del props["DefinitionUri"]
    globals_code = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    if globals_code:
        raise ValueError("Globals.Function.CodeUri is not supported by the emulator")
    return uploaded


def _substitute(definition: Any, values: dict[str, str]) -> Any:
    text = json.dumps(definition)
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(values))
    if missing:
        raise ValueError(f"no DefinitionSubstitutions for {missing}")
    return json.loads(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))


def deploy(root: Path, name: str, parameters: dict[str, str]) -> Stack:
    template = yaml_parse((root / "template.yaml").read_text())
    substitutions = {
        logical: res["Properties"].get("DefinitionSubstitutions", {})
        for logical, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::StateMachine"
    }
    definitions: dict[str, Any] = {}
    uploaded = package(template, root)
    for logical, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::StateMachine":
            definitions[logical] = res["Properties"]["Definition"]
    iam = boto3.client("iam")
    cfn_json = transform(template, parameters, ManagedPolicyLoader(iam))
    cfn = boto3.client("cloudformation")
    known = {p for p in cfn_json.get("Parameters", {})}
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if k in known]
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(cfn_json),
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {name} is {described['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
    created = {r["LogicalResourceId"] for r in summaries}
    skipped = sorted(
        f"{logical} ({res['Type']})"
        for logical, res in cfn_json["Resources"].items()
        if logical not in created and "Condition" not in res
    )
    stack = Stack(name=name, outputs=outputs, resources=resources, skipped=skipped)
    _fix_state_machines(stack, definitions, substitutions, cfn_json)
    _map_functions(stack, cfn_json, uploaded)
    functions = {
        logical: resources[logical]
        for logical, res in cfn_json["Resources"].items()
        if res["Type"] == "AWS::Lambda::Function" and logical in resources
    }
    stack.schedules = scheduler.schedules(cfn_json, parameters, functions)
    return stack


def _arn_of(stack: Stack, ref: Any, cfn_json: dict[str, Any]) -> str:
    """Resolve the few intrinsic forms a DefinitionSubstitutions value takes."""
    if isinstance(ref, str):
        return ref
    if "Fn::GetAtt" in ref:
        target = ref["Fn::GetAtt"]
        logical = target[0] if isinstance(target, list) else target.split(".")[0]
        physical = stack.resources[logical]
        rtype = cfn_json["Resources"][logical]["Type"]
        if rtype == "AWS::Lambda::Function":
            return str(
                boto3.client("lambda").get_function(FunctionName=physical)["Configuration"][
                    "FunctionArn"
                ]
            )
        return physical
    if "Ref" in ref:
        return stack.resources[ref["Ref"]]
    raise ValueError(f"cannot resolve substitution {ref}")


def _fix_state_machines(
    stack: Stack,
    definitions: dict[str, Any],
    substitutions: dict[str, dict[str, Any]],
    cfn_json: dict[str, Any],
) -> None:
    """moto ignores DefinitionSubstitutions, and skips a machine whose unsubstituted
    definition it rejects: substitute here, then update or create it."""
    sfn = boto3.client("stepfunctions")
    for logical, definition in definitions.items():
        values = {k: _arn_of(stack, v, cfn_json) for k, v in substitutions[logical].items()}
        body = json.dumps(_substitute(definition, values))
        arn = stack.resources[logical]
        try:
            sfn.update_state_machine(stateMachineArn=arn, definition=body)
        except sfn.exceptions.StateMachineDoesNotExist:
            props = cfn_json["Resources"][logical]["Properties"]
            role = _arn_of(stack, props["RoleArn"], cfn_json)
            if not role.startswith("arn:"):
                role = boto3.client("iam").get_role(RoleName=role)["Role"]["Arn"]
            created = sfn.create_state_machine(
                name=arn.rsplit(":", 1)[-1], definition=body, roleArn=role, type="STANDARD"
            )
            stack.resources[logical] = created["stateMachineArn"]


def _map_functions(stack: Stack, cfn_json: dict[str, Any], uploaded: dict[str, Path]) -> None:
    for logical, res in cfn_json["Resources"].items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        key = res["Properties"]["Code"].get("S3Key", "")
        if key in uploaded and logical in stack.resources:
            stack.functions[stack.resources[logical]] = uploaded[key]
