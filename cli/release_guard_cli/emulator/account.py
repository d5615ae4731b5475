"""An AWS account in-process: moto + the gaps filled + the real stack deployed.

with EmulatedAccount(root) as account:
    stack = account.deploy_stack({...})
    account.create_endpoint(...)
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from release_guard.aws import clients
from release_guard_cli.emulator import cloudwatch_percentiles, iam, moto_gaps
from release_guard_cli.emulator.dataplane import DataPlane
from release_guard_cli.emulator.stack import Stack, deploy

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ROLE_NAME = "release-guard-model-role"

HEALTHY = {"RG_EMU_ERROR_RATE": "0.002", "RG_EMU_LATENCY_MS": "20"}
FAULTY = {"RG_EMU_ERROR_RATE": "0.12", "RG_EMU_LATENCY_MS": "60"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    champion_variant: str
    config_name: str


class EmulatedAccount:
    def __init__(self, root: Path, out: Path | None = None, port: int | None = None) -> None:
        """In-process by default; with ``port``, behind a local moto server so other
        processes (the CLI in another shell) use it through AWS_ENDPOINT_URL."""
        self.root = root
        self.out = out or root / "out" / "emulator"
        self.port = port
        self.stack: Stack | None = None
        self._saved_env: dict[str, str] = {}
        self.server: Any = None

    def __enter__(self) -> EmulatedAccount:
        self.out.mkdir(parents=True, exist_ok=True)
        self._saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "emulated",
                "AWS_SECRET_ACCESS_KEY": "emulated",
                "AWS_SESSION_TOKEN": "emulated",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "MOTO_ACCOUNT_ID": ACCOUNT_ID,
            }
        )
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(key, None)
        clients.client.cache_clear()
        # moto logs every Fail state and unsupported CFN type at WARNING; the emulator
        # reports what matters (skipped resources, outcomes) itself.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::")
        if self.port is None:
            self.mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self.mock.start()
        else:
            from moto.core.config import default_user_config
            from moto.server import ThreadedMotoServer

            default_user_config["stepfunctions"] = {"execute_state_machine": True}
            # moto's Step Functions interpreter calls back to the server on MOTO_PORT.
            os.environ["MOTO_PORT"] = str(self.port)
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
            self.server.start()
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        self.dataplane = DataPlane(ACCOUNT_ID, REGION, self.out)
        self.gaps = moto_gaps.Gaps(ACCOUNT_ID, REGION, self.dataplane, self.out / "lambda.log")
        moto_gaps.install(self.gaps)
        cloudwatch_percentiles.install()
        self.role_arn = boto3.client("iam").create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )["Role"]["Arn"]
        return self

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        iam.deactivate()
        self.gaps.stop()
        if self.server is not None:
            self.server.stop()
        else:
            self.mock.stop()
        os.environ.clear()
        os.environ.update(self._saved_env)
        # A client made behind this account's server keeps its endpoint URL: the next
        # account in this process must not reach a server that is gone.
        clients.client.cache_clear()

    # --- set-up a user would do ------------------------------------------------------

    def deploy_stack(self, parameters: dict[str, str], name: str = "release-guard") -> Stack:
        params = {"ModelExecutionRoleArn": self.role_arn, **parameters}
        self.stack = deploy(self.root, name, params)
        self.gaps.functions.update(self.stack.functions)
        return self.stack

    def operator_role(self) -> str:
        """A role with only the stack's OperatorPolicy attached, as a team would give
        the people and pipelines that run `release-guard release ...`."""
        if self.stack is None:
            raise RuntimeError("deploy the stack first")
        name = f"{self.stack.name}-operator"
        client = boto3.client("iam")
        try:
            return str(client.get_role(RoleName=name)["Role"]["Arn"])
        except client.exceptions.NoSuchEntityException:
            pass
        arn = client.create_role(
            RoleName=name,
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            f'"Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"sts:AssumeRole"}}]}}',
        )["Role"]["Arn"]
        client.attach_role_policy(RoleName=name, PolicyArn=self.stack.outputs["OperatorPolicyArn"])
        return str(arn)

    def register_package(
        self, group: str, environment: dict[str, str], approved: bool = False
    ) -> str:
        sm = boto3.client("sagemaker")
        try:
            sm.create_model_package_group(ModelPackageGroupName=group)
        except sm.exceptions.ClientError:
            pass  # the group exists
        arn = sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/demo-model:1",
                        "Environment": environment,
                    }
                ],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.g5.xlarge", "ml.g5.2xlarge"],
            },
        )["ModelPackageArn"]
        return str(arn)

    def create_endpoint(
        self,
        name: str,
        package_arn: str,
        capture_uri: str | None,
        instance_type: str = "ml.g5.2xlarge",
        variant: str = "champion",
        timeout: float = 30,
    ) -> Endpoint:
        """What a team has before release-guard: one variant, data capture on."""
        sm = boto3.client("sagemaker")
        model = f"{name}-{variant}"
        sm.create_model(
            ModelName=model,
            Containers=[{"ModelPackageName": package_arn}],
            ExecutionRoleArn=self.role_arn,
        )
        config = f"{name}-initial"
        kwargs: dict[str, Any] = {
            "EndpointConfigName": config,
            "ProductionVariants": [
                {
                    "VariantName": variant,
                    "ModelName": model,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0,
                }
            ],
        }
        if capture_uri:
            kwargs["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": capture_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": ["application/json"],
                },
            }
        sm.create_endpoint_config(**kwargs)
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        self.wait_in_service(name, timeout)
        return Endpoint(name=name, champion_variant=variant, config_name=config)

    def wait_in_service(self, name: str, timeout: float = 30) -> dict[str, Any]:
        sm = boto3.client("sagemaker")
        deadline = time.time() + timeout
        while True:
            desc = sm.describe_endpoint(EndpointName=name)
            if desc["EndpointStatus"] == "InService":
                return dict(desc)
            if desc["EndpointStatus"] == "Failed" or time.time() > deadline:
                raise RuntimeError(f"endpoint {name} is {desc['EndpointStatus']}")
            time.sleep(0.2)
