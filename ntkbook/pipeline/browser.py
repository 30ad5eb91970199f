"""Check a built book in a real browser: headless Chromium at 1280 px, as a reader would see it.

Each page is copied beside itself with a probe script that, once the page has loaded and MathJax
has typeset, opens every collapsed cell and measures the page; Chromium's ``--dump-dom`` (after a
virtual-time budget) returns the probe's report. :func:`check_page` turns it into findings, each
naming the page, the element and the fix:

- ``code-overflow``: a code block (input or output) that scrolls sideways;
- ``column-overflow``: an element that sticks out of the text column without a scrolling box of
  its own (a wide table, figure or equation that widens the page);
- ``raw-markup``: markup left unrendered in the text (``{glue``, ``{numref}``, ``$$``, ``\\(``,
  a TeX command, Markdown, an HTML tag shown as text), outside code;
- ``figure-uncaptioned``: an image that is not in a figure with a numbered caption ("Fig. 3");
  ``figure-uncited``: a figure that no link on its page cites; ``figure-no-image``: a figure
  (or output) that shows ``<Figure size ...>`` instead of an image;
- ``table-nan``, ``table-format`` and ``text-nan``: ``nan``/``inf``/``None`` in a table or in the
  prose, a number formatted as ``0.0000``;
- ``broken-image``, ``math-error`` and ``error-output``: an image that does not load, a MathJax
  error, a traceback or stderr output.

Failed claims (their warning admonitions) are counted, not findings: :class:`PageReport` carries
the count. :func:`check_book` checks every page of a built book and keeps a full-page screenshot
of each at 1280 px.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

VIEWPORT_WIDTH = 1280
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

FIXES = {
    "code-overflow": "break the code line below 88 characters in the notebook (book/_static/"
                     "ntkbook.css wraps code; if it still scrolls, the stylesheet is not loaded "
                     "or one unbreakable token is too long)",
    "column-overflow": "make it fit the text column: a table as format_table(df) (it then "
                       "scrolls in its own box), a figure no wider than the column, a long "
                       "equation split with \\\\ in an aligned environment",
    "raw-markup": "render it: roles and $math$ belong in a markdown cell or in text glued with "
                  "{glue:md} and :format: myst (a Markdown output of a code cell is not parsed as "
                  "MyST); Markdown inside raw HTML needs blank lines around it",
    "figure-uncaptioned": "glue the figure with glue_figure(name, fig) and show it with "
                          "```{glue:figure} name``` plus :name: fig-... and a caption; no figure "
                          "may be displayed directly by a code cell",
    "figure-uncited": "cite the figure in the prose with {numref}`fig-...` (give it a :name:)",
    "figure-no-image": "glue the Matplotlib figure object with glue_figure(name, fig) under the "
                       "notebook's inline backend (not matplotlib.use('agg')), and do not print it",
    "table-nan": "show the table with format_table(df) (missing values become —), or drop the "
                 "row or column that was not measured",
    "table-format": "format numbers to significant digits (format_table(df, digits=3)), not to "
                    "a fixed number of decimals that rounds small values to zero",
    "text-nan": "a glued number is not finite: make the sentence say the value is unavailable "
                "(build the text in code), or fix the computation",
    "broken-image": "the image file is missing from the build: check the notebook's output",
    "math-error": "fix the TeX (MathJax cannot parse it)",
    "error-output": "the cell printed a traceback or to stderr: fix the code or silence the "
                    "warning at its source",
}

_PROBE = r"""
<script>
window.addEventListener('load', () => {
  const main = document.querySelector('article.bd-article') || document.querySelector('main')
    || document.body;
  const cells = [...main.querySelectorAll('div.cell')];
  const short = (text, n) => {
    const t = (text || '').replace(/\s+/g, ' ').trim();
    return t.length > n ? t.slice(0, n) + '…' : t;
  };
  const describe = (el) => {
    let s = el.tagName.toLowerCase() + [...el.classList].slice(0, 2).map(c => '.' + c).join('');
    if (el.id) s += '#' + el.id;
    const cell = el.closest('div.cell');
    if (cell) s += ` in code cell ${cells.indexOf(cell) + 1}`
      + (el.closest('.cell_input') ? ' (input)' : el.closest('.cell_output') ? ' (output)' : '');
    const sec = el.closest('section[id]');
    if (sec) s += ` under #${sec.id}`;
    const text = short(el.textContent, 70);
    return text ? `${s}: "${text}"` : s;
  };
  const findings = [];
  const add = (check, el, detail) => findings.push({check, element: describe(el), detail});
  const done = () => {
    const height = document.documentElement.scrollHeight;
    main.querySelectorAll('details').forEach(d => { d.open = true; });
    for (const pre of main.querySelectorAll('pre')) {
      if (pre.scrollWidth <= pre.clientWidth + 1) continue;
      const line = pre.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a));
      add('code-overflow', pre, `${pre.scrollWidth} px of text in a ${pre.clientWidth} px box; `
          + `longest line (${line.length} characters): "${short(line, 60)}"`);
    }
    const right = main.getBoundingClientRect().right + 1;
    const sticking = new Set();
    const clipped = (el) => {
      for (let a = el.parentElement; a && a !== main; a = a.parentElement)
        if (getComputedStyle(a).overflowX !== 'visible') return true;
      return false;
    };
    for (const el of main.querySelectorAll('*')) {
      if (sticking.has(el.parentElement)) { sticking.add(el); continue; }
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= right || el.closest('mjx-assistive-mml') || clipped(el))
        continue;
      sticking.add(el);
      add('column-overflow', el,
          `its right edge is ${Math.round(r.right - right)} px past the column`);
    }
    const skip = 'pre, code, kbd, samp, script, style, textarea, svg, mjx-container, .highlight';
    const blockSel = 'p, li, td, th, dt, dd, figcaption, caption, h1, h2, h3, h4, h5, h6, div';
    const blocks = new Map();
    const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const parent = n.parentElement;
      if (!parent || parent.closest(skip)) continue;
      const block = parent.closest(blockSel) || main;
      blocks.set(block, (blocks.get(block) || '') + n.nodeValue);
    }
    const raw = [
      [/\{glue|\{(numref|math|eq|doc|ref|cite|term|download|abbr|sub|sup|index)(:[\w-]+)?\}/,
       'a MyST role'],
      [/`{3}|(^|\n)\s*:::/, 'a code fence or directive'],
      [/\$\$/, 'display math $$'], [/\\[()\[\]]/, 'a TeX math delimiter'],
      [/\\[a-zA-Z]{2,}/, 'a TeX command'], [/\$[^$\s][^$]*\$/, 'inline math $...$'],
      [/\{\{[^}]*\}\}/, 'a substitution {{ }}'], [/\*\*\S|\S\*\*/, 'Markdown bold **'],
      [/\]\([^)\s]+\)/, 'a Markdown link'],
      [/<\/?(div|p|span|img|table|tr|td|figure|br|details|a|em|strong)\b[^>]*>/i, 'an HTML tag'],
    ];
    const bad = (token) => /^[+-]?(nan|inf|infinity)%?$/i.test(token)
      || /^(None|<NA>|NaT)$/.test(token);
    const tokens = (text) => text.split(/[\s,;:()\[\]{}±=]+/).map(t => t.replace(/\.$/, ''))
      .filter(t => t);
    for (const [block, text] of blocks) {
      if (block.closest('table')) continue;
      for (const [re, what] of raw) {
        const m = text.match(re);
        if (m) add('raw-markup', block, `${what} left as text: "${short(m[0], 30)}"`);
      }
      // as Python formats a float that is not finite (prose may name NaN as a concept)
      const nan = text.match(/(^|[^\w.])[+-]?(nan|inf)(?!\w)/);
      if (nan) add('text-nan', block, `a number shows as ${nan[0].trim()}: "…`
          + `${short(text.slice(Math.max(0, nan.index - 40), nan.index + 20), 70)}…"`);
    }
    for (const cell of main.querySelectorAll('table td, table th')) {
      const found = tokens(cell.textContent);
      if (found.some(bad))
        add('table-nan', cell, `the table shows "${short(cell.textContent, 20)}"`);
      if (found.some(t => /^[+-]?0\.0{3,}%?$/.test(t)))
        add('table-format', cell, `a number formatted as "${short(cell.textContent, 20)}"`);
    }
    for (const img of main.querySelectorAll('img')) {
      if (!img.complete || img.naturalWidth === 0)
        add('broken-image', img, `src=${img.getAttribute('src')}`);
      const fig = img.closest('figure');
      const cap = fig && fig.querySelector('figcaption');
      if (!cap || !/\bFig(ure)?\.?\s*\d+/.test(cap.textContent))
        add('figure-uncaptioned', img, fig ? 'its figure has no numbered caption'
          : img.closest('.cell_output') ? 'an image displayed directly by a code cell'
          : 'an image outside a figure');
    }
    const links = [...main.querySelectorAll('a[href*="#"]')];
    for (const fig of main.querySelectorAll('figure')) {
      if (!fig.querySelector('img, svg, object, canvas'))
        add('figure-no-image', fig, 'the figure holds no image');
      const id = fig.id;
      if (!id || !links.some(a => !fig.contains(a) && a.getAttribute('href').endsWith('#' + id)))
        add('figure-uncited', fig, id ? `no link on the page cites #${id}` : 'it has no name');
    }
    for (const el of main.querySelectorAll('pre, p, div.output'))
      if (!el.querySelector('pre, p, div.output') && /<Figure size \d+x\d+/.test(el.textContent))
        add('figure-no-image', el, 'a Matplotlib figure printed as text');
    for (const el of main.querySelectorAll('mjx-merror'))
      add('math-error', el.closest('mjx-container') || el, short(el.textContent, 60));
    for (const el of main.querySelectorAll('div.output.traceback, div.output.stderr'))
      add('error-output', el, 'a traceback or stderr output');
    const report = {
      viewport: window.innerWidth, height, images: main.querySelectorAll('img').length,
      math: main.querySelectorAll('mjx-container').length,
      claims_failed: main.querySelectorAll('.claim-failed').length, findings,
    };
    const out = document.createElement('script');
    out.type = 'application/json';
    out.id = 'ntkbook-probe';
    out.textContent = JSON.stringify(report).replace(/</g, '\\u003c');
    document.body.appendChild(out);
  };
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(done); } else { done(); }
});
</script>
"""
_REPORT = re.compile(r'<script type="application/json" id="ntkbook-probe">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Finding:
    """One problem on one page: which check, which element, what was measured."""

    page: str
    check: str
    element: str
    detail: str

    def __str__(self) -> str:
        return (f"{self.page}: [{self.check}] {self.element} — {self.detail}. "
                f"Fix: {FIXES[self.check]}")


@dataclass(frozen=True)
class PageReport:
    page: Path
    name: str
    height: int
    images: int
    math_elements: int
    failed_claims: int
    findings: list[Finding] = field(default_factory=list)
    screenshot: Path | None = None

    def by_check(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.check] = counts.get(f.check, 0) + 1
        return counts


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(chromium: str, page: Path, args: list[str], height: int,
              budget_ms: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--window-size={VIEWPORT_WIDTH},{height}", f"--virtual-time-budget={budget_ms}",
               *args, page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed on {page}: {proc.stderr[-500:]}")
    return proc


def dump_dom(chromium: str, page: Path, budget_ms: int = 15000, height: int = 900) -> str:
    """The DOM of ``page`` at 1280 px wide after it ran for ``budget_ms`` of virtual time."""
    return _chromium(chromium, page, ["--dump-dom"], height, budget_ms).stdout


def screenshot(chromium: str, page: Path, path: Path, height: int,
               budget_ms: int = 15000) -> Path:
    """A screenshot of ``page``, 1280 px wide and ``height`` px high (the whole page), as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _chromium(chromium, page, [f"--screenshot={path.resolve()}"], max(height, 200), budget_ms)
    if not path.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {page} to {path}")
    return path


def probe(chromium: str, page: Path) -> dict:
    """The probe's raw report on ``page`` (see the module docstring)."""
    html = page.read_text(encoding="utf-8")
    copy = page.with_name(f".probe-{page.name}")
    copy.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        dom = dump_dom(chromium, copy)
    finally:
        copy.unlink(missing_ok=True)
    match = _REPORT.search(dom)
    if not match:
        raise RuntimeError(f"{page}: the page never finished loading (no probe report)")
    report = json.loads(match.group(1))
    if report["viewport"] != VIEWPORT_WIDTH:
        raise RuntimeError(f"{page}: viewport {report['viewport']} px, not {VIEWPORT_WIDTH}")
    return report


def check_page(chromium: str, page: Path, *, name: str | None = None,
               screenshot_to: Path | None = None) -> PageReport:
    """Load ``page`` in headless Chromium at 1280 px and return its findings.

    Args:
        name: how findings name the page (default: the file name).
        screenshot_to: where to write a full-page PNG screenshot (none if not given).
    """
    report = probe(chromium, page)
    name = name or page.name
    shot = screenshot(chromium, page, screenshot_to, report["height"]) if screenshot_to else None
    return PageReport(
        page=page, name=name, height=report["height"], images=report["images"],
        math_elements=report["math"], failed_claims=report["claims_failed"],
        findings=[Finding(name, f["check"], f["element"], f["detail"])
                  for f in report["findings"]],
        screenshot=shot,
    )


def book_pages(html: Path) -> list[Path]:
    """The book's own pages in a built book: every page under ``book/`` (not search, index)."""
    return sorted(p for p in (html / "book").rglob("*.html") if not p.name.startswith("."))


def check_book(chromium: str, html: Path, screenshots: Path | None = None) -> list[PageReport]:
    """:func:`check_page` on every page of the built book ``html``; with ``screenshots``, a
    full-page screenshot of each as ``<screenshots>/<page>.png``."""
    reports = []
    for page in book_pages(html):
        rel = page.relative_to(html / "book").with_suffix("")
        shot = screenshots / f"{rel.as_posix().replace('/', '__')}.png" if screenshots else None
        reports.append(check_page(chromium, page, name=f"book/{rel.as_posix()}.html",
                                  screenshot_to=shot))
    return reports


def summary(reports: list[PageReport]) -> str:
    """Per page: failed claims, findings by check and each finding; then the fix of each check."""
    lines = []
    for r in reports:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.by_check().items())) or "no findings"
        lines.append(f"{r.name}: {r.failed_claims} failed claim(s); {counts}")
        lines += [f"  [{f.check}] {f.element} — {f.detail}" for f in r.findings]
    checks = sorted({f.check for r in reports for f in r.findings})
    if checks:
        lines += ["How to fix:"] + [f"  {check}: {FIXES[check]}" for check in checks]
    return "\n".join(lines)
