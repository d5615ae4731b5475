"""Fixtures for the emulated data plane: a mocked AWS account and a DataPlane in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from release_guard_cli.emulator.dataplane import DataPlane

from tests.emulator.support import REGION


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def dataplane(aws: None, tmp_path: Path) -> Iterator[DataPlane]:
    dp = DataPlane(DEFAULT_ACCOUNT_ID, REGION, tmp_path / "logs", seed=7)
    try:
        yield dp
    finally:
        dp.stop_all()
