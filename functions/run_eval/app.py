"""Run Eval: the eval dataset against the candidate and champion variants, scored and
written to S3 as evaluation records (one JSON Lines file per system)."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from release_guard.aws import runtime
from release_guard.gate import runner
from release_guard.observability import boundary, logger


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = runner.parse_request(event)
    ports = runner.Ports(
        invoker=runtime.SageMakerInvoker(),
        store=runtime.S3Store(),
        endpoint_variants=runtime.endpoint_variants,
        judge_cache=runtime.S3JudgeCache,
    )
    with ThreadPoolExecutor(max_workers=request.concurrency) as pool:
        result = runner.execute(request, ports, pool.map)
    logger.info(
        "eval run",
        extra={
            "release_id": result.release_id,
            "examples": result.examples,
            "reused": result.reused,
            "errors": result.errors.model_dump(mode="json", exclude={"dataset": {"examples"}}),
        },
    )
    return result.model_dump(mode="json")
