"""The release report rendered by a real browser: headless Chromium lays the page out
(every chart has a size, every series a drawn extent) and screenshots it, and the
screenshot's pixels inside each chart show both variants' colours.

Chromium is required: `make test` installs it (apt-get) when missing. The test is
skipped only when RG_NO_BROWSER=1 is set; a missing browser otherwise fails it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from release_guard.report import render
from release_guard.report.svg import CANDIDATE, CHAMPION

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH = 1100

pytestmark = pytest.mark.skipif(
    os.environ.get("RG_NO_BROWSER") == "1", reason="RG_NO_BROWSER=1: no browser checks"
)

PROBE = """<script>
const charts = [...document.querySelectorAll("svg.chart")].map((s) => {
  const r = s.getBoundingClientRect();
  const series = [...s.querySelectorAll("path.series")].map((p) => {
    const b = p.getBBox();
    return [b.width, b.height];
  });
  return {id: s.id, x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
          marks: s.querySelectorAll("path, line, circle, rect").length, series};
});
document.body.setAttribute("data-probe", JSON.stringify({
  charts, height: document.documentElement.scrollHeight,
  width: document.documentElement.scrollWidth}));
</script></body>"""


def browser() -> str:
    found = os.environ.get("RG_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.fail(
            "no Chromium: `make test` installs it (apt-get install chromium); "
            "set RG_NO_BROWSER=1 to skip the browser checks"
        )
    return found


def run_browser(exe: str, profile: Path, *args: str) -> str:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def decode_png(data: bytes) -> np.ndarray:
    """RGB(A) pixels of an 8-bit PNG (what Chromium writes), as (height, width, channels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, -1)
    stride = width * channels
    out = np.zeros((height, stride), np.uint8)
    prior = np.zeros(stride, np.int64)
    for y in range(height):
        kind, line = int(raw[y, 0]), raw[y, 1:].astype(np.int64)
        if kind == 0:
            rec = line
        elif kind == 1:  # Sub: a running sum per channel
            rec = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            rec = (line + prior) % 256
        else:  # Average or Paeth: sequential along the row
            cur, up, left = line.tolist(), prior.tolist(), [0] * stride
            for i in range(stride):
                a = left[i - channels] if i >= channels else 0
                if kind == 3:
                    left[i] = (cur[i] + ((a + up[i]) >> 1)) & 255
                    continue
                b, c = up[i], (up[i - channels] if i >= channels else 0)
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                left[i] = (cur[i] + pred) & 255
            rec = np.array(left, np.int64)
        out[y] = rec
        prior = rec
    return out.reshape(height, width, channels)[:, :, :3]


def near(pixels: np.ndarray, colour: str, tolerance: int = 60) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).sum(axis=2) <= tolerance).sum())


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The promoted release's report, laid out and screenshotted by Chromium."""
    exe = browser()
    tmp = tmp_path_factory.mktemp("browser")
    items = json.loads((FIXTURES / "promoted.json").read_text())
    report = tmp / "report.html"
    report.write_text(render(items, datetime(2026, 11, 22, 6, tzinfo=UTC)).html)
    # Layout: a copy of the page with a probe script (the report itself has none).
    probe = tmp / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE))
    dom = run_browser(
        exe, tmp / "profile", f"--window-size={WIDTH},1200", "--dump-dom", probe.as_uri()
    )
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[-500:]
    layout = json.loads(html.unescape(found.group(1)))
    # Pixels: the report as it is, the whole page in one screenshot.
    shot = tmp / "report.png"
    height = min(int(layout["height"]), 16000)
    run_browser(
        exe,
        tmp / "profile",
        f"--window-size={WIDTH},{height}",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    return {"layout": layout, "pixels": decode_png(shot.read_bytes())}


def test_every_chart_is_laid_out_with_a_size(page: dict[str, Any]) -> None:
    layout = page["layout"]
    charts = {c["id"]: c for c in layout["charts"]}
    assert set(charts) == {"weights", "metric-0", "metric-1"}
    for c in charts.values():
        assert c["w"] >= 600 and c["h"] >= 200, c
        assert c["x"] + c["w"] <= layout["width"] + 1  # nothing cut off on the right
        assert c["marks"] > 20
    for chart in ("metric-0", "metric-1"):
        sizes = charts[chart]["series"]
        # Drawn across the release (a series may be flat: no 5XX errors at all).
        assert len(sizes) == 2 and all(w > 100 and h >= 0 for w, h in sizes), sizes


def test_the_screenshot_shows_both_variants_in_every_chart(page: dict[str, Any]) -> None:
    pixels = page["pixels"]
    assert pixels.shape[1] == WIDTH
    for c in page["layout"]["charts"]:
        x, y, w, h = (round(c[k]) for k in ("x", "y", "w", "h"))
        box = pixels[y : y + h, x : x + w]
        assert box.shape[0] == h and box.shape[1] == w, (c, pixels.shape)
        inked = int((box.astype(int).sum(axis=2) < 600).sum())
        assert inked > 0.01 * w * h, (c["id"], inked)
        assert near(box, CANDIDATE) > 150, c["id"]
        assert near(box, CHAMPION) > 150, c["id"]
    # Between the charts the page is mostly white: the charts are where the colour is.
    top = pixels[:60]
    assert near(top, CANDIDATE) == 0
