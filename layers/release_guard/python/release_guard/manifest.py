"""Release manifests (``releases/<endpoint>.yaml``) and prompt versions
(``prompts/<name>/v<N>.yaml``): the schemas, and how they become a StartRelease.

Pure pydantic with ``extra="forbid"``: the CLI loads the YAML (with line numbers) and
checks what lives outside one file (the prompt file a manifest names, the policy file);
everything a single document can get wrong is said here, naming the field.

A prompt version reaches the serving container as environment variables
(docs/manifests.md): ``RG_PROMPT_NAME``, ``RG_PROMPT_VERSION``, ``RG_SYSTEM_PROMPT``,
``RG_PROMPT_TEMPLATE``, ``RG_INFERENCE_PARAMS`` (JSON), plus any ``environment`` the
version sets for the serving stack itself.
"""

from __future__ import annotations

import json
import string
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from release_guard.events import (
    ENV_MAX_BYTES,
    MODEL_DATA,
    NAME,
    PACKAGE_ARN,
    PROMPT_NAME,
    S3_URI,
    ContainerSpec,
    PromptRef,
    StartRelease,
    Trigger,
    check_environment,
    environment_problem,
)
from release_guard.policy import Strict

# --- Instance types ------------------------------------------------------------------

_CPU_5 = ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")
_CPU_6I = (
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
    "32xlarge",
)  # fmt: skip
_CPU_7I = (
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
    "48xlarge",
)  # fmt: skip
_GRAVITON = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_GPU_G = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")

# The ml.* instance types a manifest may ask for: the real-time hosting families and
# sizes of SageMaker's ProductionVariantInstanceType (tests/unit/test_manifest.py checks
# every entry against botocore's API model). Deliberately a subset: current families
# for CPU inference, the NVIDIA GPU families used for LLM serving, and Inferentia /
# Trainium. Extend it here when a release needs another type.
REAL_TIME_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    # CPU, x86
    "t2": ("medium", "large", "xlarge", "2xlarge"),
    "m5": _CPU_5,
    "m5d": _CPU_5,
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "r5": _CPU_5,
    "m6i": _CPU_6I,
    "c6i": _CPU_6I,
    "r6i": _CPU_6I,
    "m7i": _CPU_7I,
    "c7i": _CPU_7I,
    "r7i": _CPU_7I,
    # CPU, Graviton
    "m6g": _GRAVITON,
    "c6g": _GRAVITON,
    "r6g": _GRAVITON,
    "c7g": _GRAVITON,
    # NVIDIA GPU
    "g4dn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "g5": _GPU_G,
    "g6": _GPU_G,
    "g6e": _GPU_G,
    "p3": ("2xlarge", "8xlarge", "16xlarge"),
    "p4d": ("24xlarge",),
    "p4de": ("24xlarge",),
    "p5": ("4xlarge", "48xlarge"),
    "p5e": ("48xlarge",),
    "p5en": ("48xlarge",),
    # AWS Inferentia and Trainium
    "inf2": ("xlarge", "8xlarge", "24xlarge", "48xlarge"),
    "trn1": ("2xlarge", "32xlarge"),
}


def real_time_instance_types() -> list[str]:
    return [f"ml.{f}.{s}" for f, sizes in REAL_TIME_INSTANCE_TYPES.items() for s in sizes]


def instance_type_problem(instance_type: str) -> str | None:
    """Why SageMaker would not host ``instance_type`` on a real-time endpoint (as far
    as the allow-list knows), or None."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml":
        return f"{instance_type!r} is not an instance type like ml.g5.2xlarge"
    family, size = parts[1], parts[2]
    sizes = REAL_TIME_INSTANCE_TYPES.get(family)
    if sizes is None:
        return (
            f"{instance_type} is not a real-time endpoint instance type on the allow-list: "
            f"family {family!r} is not one of {', '.join(REAL_TIME_INSTANCE_TYPES)} "
            "(docs/manifests.md)"
        )
    if size not in sizes:
        return (
            f"{instance_type} is not offered for real-time endpoints: "
            f"ml.{family} comes in {', '.join(sizes)}"
        )
    return None


def _env_values(value: Any) -> Any:
    """YAML writes ``SM_NUM_GPUS: 1``; SageMaker's Environment is strings only. Numbers
    are read as their text; booleans are refused (true or True?)."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if isinstance(item, bool):
            raise ValueError(f"{key}: quote the value ('{str(item).lower()}'): values are text")
        out[key] = str(item) if isinstance(item, int | float) else item
    return out


# --- Prompt versions -----------------------------------------------------------------

PROMPT_ENV = (
    "RG_PROMPT_NAME",
    "RG_PROMPT_VERSION",
    "RG_SYSTEM_PROMPT",
    "RG_PROMPT_TEMPLATE",
    "RG_INFERENCE_PARAMS",
)
TEMPLATE_FIELDS = ("system_prompt", "input", "context")


class InferenceParameters(Strict):
    """Generation parameters, as TGI / LMI request ``parameters`` name them."""

    # Finite numbers only: they are sent as JSON (RG_INFERENCE_PARAMS), which has no
    # infinity or NaN (YAML's .inf would be written as the non-JSON Infinity).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    max_new_tokens: int | None = Field(None, ge=1, le=131072)
    repetition_penalty: float | None = Field(None, gt=0)
    stop: list[str] | None = Field(None, max_length=16)
    do_sample: bool | None = None
    seed: int | None = Field(None, ge=0)


class PromptEval(Strict):
    dataset: str = Field(pattern=S3_URI, description="JSON Lines eval examples in S3")


class PromptFile(Strict):
    """prompts/<name>/v<version>.yaml: one immutable prompt configuration."""

    name: str = Field(pattern=PROMPT_NAME, description="the directory's name")
    version: int = Field(ge=1, le=9999, description="the N of vN.yaml")
    description: str | None = Field(None, max_length=1024)
    system_prompt: str | None = Field(None, min_length=1)
    template: str = Field(min_length=1, description="placeholders {input}, {system_prompt}...")
    parameters: InferenceParameters = Field(default_factory=InferenceParameters)
    eval: PromptEval
    environment: dict[str, str] = Field(
        default_factory=dict, description="more container variables this version sets"
    )

    _env_in = field_validator("environment", mode="before")(_env_values)

    @field_validator("system_prompt")
    @classmethod
    def _fits_system_prompt(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > ENV_MAX_BYTES:
            raise ValueError(_too_long("RG_SYSTEM_PROMPT", value))
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        if len(value.encode()) > ENV_MAX_BYTES:
            raise ValueError(_too_long("RG_PROMPT_TEMPLATE", value))
        try:
            parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value)]
        except ValueError as err:
            raise ValueError(
                f"not a valid template: {err} (write {{{{ for a literal brace)"
            ) from None
        names = [f for f, _, _ in parsed if f is not None]
        unknown = sorted({n for n in names if n not in TEMPLATE_FIELDS})
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}}: use {{input}}, {{system_prompt}} "
                "or {context}"
            )
        if "input" not in names:
            raise ValueError("the template needs an {input} placeholder")
        # The serving code formats it with the request's text (docs/manifests.md): a
        # conversion or format spec can fail there ({input!x}, {input:d}, {input:{context}})
        # or make a gigabyte of padding ({input:>999999999}).
        spec = next((f for f, sp, conv in parsed if f is not None and (sp or conv)), None)
        if spec is not None:
            raise ValueError(
                f"placeholders take no conversion or format spec: write {{{spec}}} alone"
            )
        return value

    @field_validator("environment")
    @classmethod
    def _extra_env(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(set(value) & set(PROMPT_ENV))
        if reserved:
            raise ValueError(f"{reserved[0]} is set from the prompt's own fields")
        return check_environment(value)

    @model_validator(mode="after")
    def _fits(self) -> PromptFile:
        problem = environment_problem(self.container_environment())
        if problem:
            raise ValueError(f"as container environment: {problem}")
        return self

    def container_environment(self) -> dict[str, str]:
        """The Environment this version adds to the model's container."""
        env = {"RG_PROMPT_NAME": self.name, "RG_PROMPT_VERSION": str(self.version)}
        if self.system_prompt is not None:
            env["RG_SYSTEM_PROMPT"] = self.system_prompt
        env["RG_PROMPT_TEMPLATE"] = self.template
        params = self.parameters.model_dump(exclude_none=True)
        if params:
            env["RG_INFERENCE_PARAMS"] = json.dumps(params, sort_keys=True, separators=(",", ":"))
        env.update(self.environment)
        return env

    def ref(self) -> PromptRef:
        return PromptRef(
            name=self.name,
            version=self.version,
            environment=self.container_environment(),
            eval_dataset_uri=self.eval.dataset,
        )


def _too_long(variable: str, value: str) -> str:
    return (
        f"{len(value.encode())} bytes: it becomes the container variable {variable}, and "
        f"SageMaker allows at most {ENV_MAX_BYTES} bytes per Environment value"
    )


# --- Release manifests ---------------------------------------------------------------

POLICY_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # policies/<name>.json


class FrameworkContainer(Strict):
    """A SageMaker serving container named by framework and version; the CLI resolves
    it to the regional ECR image with the sagemaker SDK's image-URI lookup."""

    framework: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="huggingface-llm (TGI), djl-lmi (LMI), or any image_uris framework",
    )
    version: str = Field(pattern=r"^[0-9][0-9A-Za-z.\-]{0,31}$", description='e.g. "3.0.1"')

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if isinstance(value, float):  # 2.0 read by YAML as a number: "2.0.2" was meant
            raise ValueError(f'quote the version ("{value}"): YAML read it as a number')
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ModelSpec(Strict):
    """Exactly one of ``package``, ``image`` or ``container``."""

    package: str | None = Field(None, pattern=PACKAGE_ARN, description="model package ARN")
    image: str | None = Field(None, pattern=r"^\S+$", max_length=255, description="ECR image URI")
    container: FrameworkContainer | None = None
    model_data: str | None = Field(None, pattern=MODEL_DATA, max_length=1024)
    environment: dict[str, str] = Field(default_factory=dict)

    _env_in = field_validator("environment", mode="before")(_env_values)

    @field_validator("environment")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in value if k in PROMPT_ENV)
        if reserved:
            raise ValueError(f"{reserved[0]} is set by the prompt version (prompt:)")
        return check_environment(value)

    @model_validator(mode="after")
    def _one(self) -> ModelSpec:
        given = [k for k in ("package", "image", "container") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "exactly one of package, image or container"
                + (f" (got {' and '.join(given)})" if given else "")
            )
        if self.package is not None and (self.model_data or self.environment):
            raise ValueError(
                "model_data and environment go with image or container; a package has its own"
            )
        return self


class PromptPointer(Strict):
    name: str = Field(pattern=PROMPT_NAME)
    version: int = Field(ge=1, le=9999)

    @property
    def path(self) -> str:
        return f"prompts/{self.name}/v{self.version}.yaml"


class InstanceSpec(Strict):
    type: str = Field(description="a real-time ml.* instance type (allow-list)")
    count: int = Field(1, ge=1, le=100)

    @field_validator("type")
    @classmethod
    def _real_time(cls, value: str) -> str:
        problem = instance_type_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class ReleaseManifest(Strict):
    """releases/<endpoint>.yaml: the desired candidate for one endpoint."""

    endpoint: str = Field(pattern=NAME)
    description: str | None = Field(None, max_length=1024)
    model: ModelSpec
    prompt: PromptPointer | None = None
    instance: InstanceSpec
    policy: str | None = Field(
        None,
        pattern=POLICY_NAME,
        description="policies/<name>.json; else the stack's policy",
    )
    variant: str | None = Field(None, pattern=NAME, description="default: from the versions")


def start_request(
    manifest: ReleaseManifest,
    prompt: PromptFile | None,
    *,
    image: str | None = None,
    policy: dict[str, Any] | None = None,
    trigger: Trigger = "pipeline",
    requested_by: str | None = None,
    release_id: str | None = None,
    candidate_variant: str | None = None,
) -> StartRelease:
    """The StartRelease a manifest asks for. ``image``: the resolved URI when the
    manifest names a framework container."""
    model = manifest.model
    container = None
    if model.package is None:
        uri = model.image or image
        if uri is None:
            raise ValueError("model.container must be resolved to an image URI first")
        container = ContainerSpec(
            image=uri, model_data_url=model.model_data, environment=model.environment
        )
    return StartRelease(
        endpoint_name=manifest.endpoint,
        model_package_arn=model.package,
        container=container,
        prompt=prompt.ref() if prompt is not None else None,
        candidate_variant=candidate_variant or manifest.variant,
        instance_type=manifest.instance.type,
        instance_count=manifest.instance.count,
        policy=policy,
        release_id=release_id,
        trigger=trigger,
        requested_by=requested_by,
    )
