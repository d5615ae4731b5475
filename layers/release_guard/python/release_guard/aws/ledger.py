"""The release ledger and per-endpoint locks in one DynamoDB table (pk, sk).

Items: ``RELEASE#<id>/META`` (summary), ``RELEASE#<id>/<key>`` (one decision each,
written once: a redelivered step finds its own earlier record), ``LOCK#<endpoint>/LOCK``,
``PACKAGE#<model package ARN>/OUTCOME`` (``OUTCOME#<prompt>@<digest>`` with a prompt
version): the last outcome release-guard gave that package, so an approval starts one
release, not one per event.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from release_guard.aws.clients import client, code, raise_transient


def table_name() -> str:
    return os.environ["LEDGER_TABLE"]


def _to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    # Floats go through Decimal (DynamoDB rejects Python floats); NaN and infinities,
    # which DynamoDB cannot store, become null: an unbounded interval end is "none".
    return json.loads(
        json.dumps(value, default=str), parse_float=Decimal, parse_constant=lambda _: None
    )


def _from_ddb(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_ddb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_ddb(v) for v in value]
    return value


def _call(method: Any, **kwargs: Any) -> Any:
    """One table call: throttling and AWS's own faults become TransientError (Step
    Functions retries them); anything else is raised as it came."""
    try:
        return method(**kwargs)
    except ClientError as err:
        raise_transient(err)
        raise


def _item(resp: dict[str, Any]) -> dict[str, Any] | None:
    """GetItem's item without its keys, or None."""
    item = resp.get("Item")
    return (
        None
        if not item
        else dict(_from_ddb({k: v for k, v in item.items() if k not in ("pk", "sk")}))
    )


def _table() -> Any:
    return _table_named(table_name())


@cache
def _table_named(name: str) -> Any:
    """One resource per table, built once per process like the clients."""
    import boto3  # resource API only here; the client cache does not cover resources

    return boto3.resource("dynamodb").Table(name)


def record_once(release_id: str, key: str, item: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Write a decision once. Returns (written, stored item): a duplicate delivery of
    the same step gets the first record back instead of a second decision."""
    full = {"pk": f"RELEASE#{release_id}", "sk": key, **_to_ddb(item)}
    try:
        _table().put_item(Item=full, ConditionExpression="attribute_not_exists(pk)")
        return True, item
    except ClientError as err:
        if code(err) != "ConditionalCheckFailedException":
            raise_transient(err)
            raise
    existing = _table().get_item(Key={"pk": full["pk"], "sk": key}, ConsistentRead=True)
    return False, _from_ddb({k: v for k, v in existing["Item"].items() if k not in ("pk", "sk")})


def put_summary(release_id: str, summary: dict[str, Any]) -> None:
    item = {"pk": f"RELEASE#{release_id}", "sk": "META", **_to_ddb(summary)}
    if "endpoint_name" in summary and "started_at" in summary:
        item["gsi1pk"] = f"ENDPOINT#{summary['endpoint_name']}"
        item["gsi1sk"] = str(summary["started_at"])
    _call(_table().put_item, Item=item)


def summary(release_id: str) -> dict[str, Any] | None:
    """The release's summary item (META), or None."""
    key = {"pk": f"RELEASE#{release_id}", "sk": "META"}
    return _item(_call(_table().get_item, Key=key, ConsistentRead=True))


def update_summary(release_id: str, fields: dict[str, Any]) -> None:
    names = {f"#{k}": k for k in fields}
    values = {f":{k}": v for k, v in _to_ddb(fields).items()}
    expr = "SET " + ", ".join(f"#{k} = :{k}" for k in fields)
    _call(
        _table().update_item,
        Key={"pk": f"RELEASE#{release_id}", "sk": "META"},
        UpdateExpression=expr,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _package_key(package_arn: str, prompt: str | None) -> dict[str, str]:
    return {"pk": f"PACKAGE#{package_arn}", "sk": f"OUTCOME#{prompt}" if prompt else "OUTCOME"}


def put_package_outcome(package_arn: str, prompt: str | None, item: dict[str, Any]) -> None:
    """The package's latest outcome (with this prompt version): a later one replaces it."""
    _call(_table().put_item, Item={**_package_key(package_arn, prompt), **_to_ddb(item)})


def package_outcome(package_arn: str, prompt: str | None) -> dict[str, Any] | None:
    return _item(
        _call(_table().get_item, Key=_package_key(package_arn, prompt), ConsistentRead=True)
    )


def release_items(release_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": f"RELEASE#{release_id}"},
        "ConsistentRead": True,
    }
    while True:
        resp = _table().query(**kwargs)
        items.extend(_from_ddb(i) for i in resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def acquire_lock(
    endpoint: str,
    owner: str,
    execution_arn: str,
    now: int,
    lease: int,
    replace_owner: str | None = None,
) -> bool:
    """Conditional write: free, already ours (a redelivered acquire), or held by
    ``replace_owner`` (a holder whose execution has ended without releasing)."""
    condition = "attribute_not_exists(pk) OR #o = :me"
    values = {":me": {"S": owner}}
    if replace_owner:
        condition += " OR #o = :stale"
        values[":stale"] = {"S": replace_owner}
    try:
        client("dynamodb").put_item(
            TableName=table_name(),
            Item={
                "pk": {"S": f"LOCK#{endpoint}"},
                "sk": {"S": "LOCK"},
                "owner": {"S": owner},
                "execution_arn": {"S": execution_arn},
                "acquired_at": {"N": str(now)},
                "expires_at": {"N": str(now + lease)},
            },
            ConditionExpression=condition,
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=values,
        )
        return True
    except ClientError as err:
        if code(err) == "ConditionalCheckFailedException":
            return False
        raise_transient(err)
        raise


def lock_holder(endpoint: str) -> dict[str, Any] | None:
    resp = client("dynamodb").get_item(
        TableName=table_name(),
        Key={"pk": {"S": f"LOCK#{endpoint}"}, "sk": {"S": "LOCK"}},
        ConsistentRead=True,
    )
    item = resp.get("Item")
    if not item:
        return None
    return {k: next(iter(v.values())) for k, v in item.items()}


def release_lock(endpoint: str, owner: str) -> bool:
    """Only the owner releases; releasing a lock already gone is not an error."""
    try:
        client("dynamodb").delete_item(
            TableName=table_name(),
            Key={"pk": {"S": f"LOCK#{endpoint}"}, "sk": {"S": "LOCK"}},
            ConditionExpression="attribute_not_exists(pk) OR #o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":me": {"S": owner}},
        )
        return True
    except ClientError as err:
        if code(err) == "ConditionalCheckFailedException":
            return False
        raise_transient(err)
        raise


def recent_releases(endpoint: str, limit: int = 50) -> list[dict[str, Any]]:
    """The endpoint's release summaries, newest first (the by-endpoint index)."""
    resp = _call(
        _table().query,
        IndexName="by-endpoint",
        KeyConditionExpression="gsi1pk = :e",
        ExpressionAttributeValues={":e": f"ENDPOINT#{endpoint}"},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [_from_ddb(i) for i in resp.get("Items", [])]


def _pending_key(endpoint: str, group: str) -> dict[str, str]:
    return {"pk": f"PENDING#{endpoint}", "sk": f"GROUP#{group}"}


def put_pending(endpoint: str, group: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """Record an approval waiting for the endpoint's lock; one per package group, the
    newest replacing an older one. Returns the item it replaced, if any."""
    item = {**_pending_key(endpoint, group), **_to_ddb(item)}
    resp = _call(_table().put_item, Item=item, ReturnValues="ALL_OLD")
    return _item({"Item": resp.get("Attributes")})


def pending_approvals(endpoint: str) -> list[dict[str, Any]]:
    """Approvals waiting for the endpoint's lock, oldest first."""
    resp = _call(
        _table().query,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": f"PENDING#{endpoint}"},
        ConsistentRead=True,
    )
    items = [_from_ddb({k: v for k, v in i.items() if k != "pk"}) for i in resp.get("Items", [])]
    return sorted(items, key=lambda i: str(i.get("recorded_at", "")))


def take_pending(endpoint: str, group: str, release_id: str) -> bool:
    """Remove a pending approval once it has started (only the one recorded)."""
    try:
        _table().delete_item(
            Key=_pending_key(endpoint, group),
            ConditionExpression="release_id = :r",
            ExpressionAttributeValues={":r": release_id},
        )
        return True
    except ClientError as err:
        if code(err) == "ConditionalCheckFailedException":
            return False
        raise_transient(err)
        raise
