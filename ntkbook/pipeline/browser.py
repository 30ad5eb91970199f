"""Check a built book in a real browser: headless Chromium, as a reader would load it.

Each page is copied beside itself with a small probe script that, once the page has loaded and
MathJax has typeset, records broken images and MathJax errors on ``<body>``; Chromium's
``--dump-dom`` (after a virtual-time budget) returns the resulting DOM.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_PROBE = """
<script>
window.addEventListener('load', () => {
  const done = () => {
    const broken = [...document.images]
      .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
    document.body.setAttribute('data-probe-images', String(document.images.length));
    document.body.setAttribute('data-probe-broken', JSON.stringify(broken));
    document.body.setAttribute('data-probe-math',
      String(document.querySelectorAll('mjx-container').length));
    document.body.setAttribute('data-probe-merror',
      String(document.querySelectorAll('mjx-merror').length));
  };
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(done); } else { done(); }
});
</script>
"""


@dataclass(frozen=True)
class PageReport:
    page: Path
    images: int
    broken_images: list[str]
    math_elements: int
    math_errors: int
    error_outputs: int


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _attr(dom: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', dom)
    if not match:
        raise RuntimeError(f"the page never finished loading (no {name} on <body>)")
    return match.group(1).replace("&quot;", '"')


def dump_dom(chromium: str, page: Path, budget_ms: int = 15000) -> str:
    """The DOM of ``page`` after it ran for ``budget_ms`` of virtual time."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed on {page}: {proc.stderr[-500:]}")
    return proc.stdout


def check_page(chromium: str, page: Path) -> PageReport:
    """Load ``page`` in headless Chromium and report images, math and error outputs."""
    html = page.read_text(encoding="utf-8")
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        dom = dump_dom(chromium, probe)
    finally:
        probe.unlink(missing_ok=True)
    return PageReport(
        page=page,
        images=int(_attr(dom, "data-probe-images")),
        broken_images=json.loads(_attr(dom, "data-probe-broken")),
        math_elements=int(_attr(dom, "data-probe-math")),
        math_errors=int(_attr(dom, "data-probe-merror")),
        # myst-nb renders a cell error as an output with class "traceback" or "stderr".
        error_outputs=len(re.findall(r'class="[^"]*output (?:traceback|stderr)', dom)),
    )
