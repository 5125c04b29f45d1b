"""Smoke test of bench/torchvision_tracking.py and its section of RESULTS.md: one
small classifier at 32x32 for a few steps (the full table is the command's job)."""

import json

import pytest

import report
import torchvision_tracking
from models import _tests_helper


def test_tracking_command_writes_rows_that_the_report_renders(tmp_path, capsys):
    ok, reason = _tests_helper("torchvision_models").available()
    if not ok:
        pytest.skip(reason)
    out = tmp_path / "tracking_smoke.json"
    assert torchvision_tracking.main(["--size", "32", "--steps", "8", "--images", "2",
                                      "--models", "shufflenet_v2_x0_5,efficientnet_b0",
                                      "--threads", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| shufflenet_v2_x0_5 | 32x32 | converts |" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["verdict"] for r in rows] == ["converts", "refused"]
    assert 0 <= rows[0]["argmax_agreement"] <= 1 and -1 <= rows[0]["correlation"] <= 1
    assert rows[1]["reason"].startswith("features_0_2: SiLU has no spiking equivalent")

    data = report.Data()
    report.read_side_files(data, str(tmp_path))
    text = "\n".join(report.tracking_section(data))
    assert "| shufflenet_v2_x0_5 | 32x32 | converts |" in text
    assert "refused: features_0_2: SiLU" in text


def test_tracking_command_refuses_unknown_models():
    with pytest.raises(SystemExit) as e:
        torchvision_tracking.main(["--models", "lenet"])
    assert e.value.code == 2
