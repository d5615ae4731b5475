"""`release-guard baseline build|export|import` on local files: a team can profile its
training set and move between release-guard and Model Monitor baselines on a laptop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_guard.drift.profile import load_profile
from release_guard_cli import drift_demo
from release_guard_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "policies" / "demo.json")


def test_build_export_import_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "train.csv"
    data.write_bytes(drift_demo.training_csv(2000))
    profile_path = tmp_path / "profile.json"
    assert (
        main(
            [
                "baseline",
                "build",
                "--dataset",
                str(data),
                "--policy",
                POLICY,
                "--output",
                str(profile_path),
            ]
        )
        == 0
    )
    built = json.loads(capsys.readouterr().out)
    profile = load_profile(profile_path.read_bytes())
    assert built["profile_id"] == profile.profile_id
    assert sorted(profile.features) == [*(f"f{i}" for i in range(8)), "score"]
    assert profile.rows == {"input": 2000, "output": 2000}

    out = tmp_path / "mm"
    assert main(["baseline", "export", "--profile", str(profile_path), "--out", str(out)]) == 0
    stats = json.loads((out / "statistics.json").read_text())
    assert [f["name"] for f in stats["features"]][:2] == ["f0", "f1"]
    capsys.readouterr()

    imported = tmp_path / "imported.json"
    assert (
        main(
            [
                "baseline",
                "import",
                "--statistics",
                str(out / "statistics.json"),
                "--constraints",
                str(out / "constraints.json"),
                "--policy",
                POLICY,
                "--output",
                str(imported),
            ]
        )
        == 0
    )
    back = load_profile(imported.read_bytes())
    assert back.features["f3"].edges == profile.features["f3"].edges  # type: ignore[union-attr]


def test_build_names_a_dataset_without_the_features(tmp_path: Path) -> None:
    data = tmp_path / "other.csv"
    data.write_text("x,y\n1,2\n")
    with pytest.raises(SystemExit, match=r"dataset_uri.*at least one of the features"):
        main(
            [
                "baseline",
                "build",
                "--dataset",
                str(data),
                "--policy",
                POLICY,
                "--output",
                str(tmp_path / "p.json"),
            ]
        )
