"""Every chapter executed under the smoke profile, the book built, and read in a real browser.

The browser checks (:mod:`ntkbook.pipeline.browser`) are first tested on small hand-made pages,
each bad element of which must be found and nothing else; then they run on every page of the
smoke book, which keeps a full-page screenshot of each under ``_build/screenshots/smoke``.
"""

import json
import struct
from pathlib import Path

import pytest

from ntkbook.pipeline.browser import (
    VIEWPORT_WIDTH,
    check_book,
    check_page,
    find_chromium,
    summary,
)
from ntkbook.pipeline.build import book_record_path, build_book, screenshots_dir
from ntkbook.pipeline.glue import failed_claims
from ntkbook.pipeline.profiles import CHAPTERS
from ntkbook.pipeline.runner import record_path, repo_root

CSS = Path(__file__).resolve().parents[1] / "book" / "_static" / "ntkbook.css"
# a 1x1 PNG
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
         "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    return path


def _page(tmp_path: Path, name: str, body: str, css: bool = False) -> Path:
    link = f'<link rel="stylesheet" href="{CSS.as_uri()}">' if css else ""
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{link}</head><body>'
            f'<div style="width: 700px"><article class="bd-article"><section id="s">{body}'
            f"</section></article></div></body></html>")
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


GOOD = f"""
<h1>A chapter</h1>
<p>As <a href="#fig-good">Fig. 1</a> shows, the loss falls to 0.0123 and 1e-05.</p>
<figure id="fig-good"><img src="{PIXEL}" width="300">
<figcaption><p><span class="caption-number">Fig. 1 </span>The loss.</p></figcaption></figure>
<div class="cell"><div class="cell_input"><div class="highlight"><pre>x = 1</pre></div></div>
<div class="cell_output"><div class="output text_html"><table><tr><th>width</th><th>loss</th>
</tr><tr><td>100</td><td>—</td></tr><tr><td>200</td><td>0.5</td></tr></table></div></div></div>
<details><summary>code</summary><div class="cell_input"><pre>y = 2</pre></div></details>
<div class="admonition warning claim-failed" id="claim-a">
<p class="admonition-title">Claim not supported by this run</p><p>A beats B.</p></div>
<div class="admonition warning claim-failed" id="claim-b">
<p class="admonition-title">Claim not supported by this run</p><p>C beats D.</p></div>
<p>Code in prose is fine: <code>{{glue:text}}`x` $$ \\( nan</code>.</p>
"""

LONG_CODE = "result = compute(" + ", ".join(f"argument_{i}" for i in range(20)) + ")"
WIDE_TABLE = ("<table>" + "<tr>" + "".join(f"<td>column {i} value</td>" for i in range(40))
              + "</tr></table>")

# (check, element id) -> the bad element
BAD = {
    ("code-overflow", "long-input"):
        f'<div class="cell"><div class="cell_input"><pre id="long-input">{LONG_CODE}</pre></div>'
        "</div>",
    ("code-overflow", "long-hidden"):
        f'<details><div class="cell_input"><pre id="long-hidden">{LONG_CODE}</pre></div></details>',
    ("column-overflow", "wide-table"): WIDE_TABLE.replace("<table>", "<table id=\"wide-table\">"),
    ("raw-markup", "glue"): '<p id="glue">The rate is {glue:text}`rate:.2f`.</p>',
    ("raw-markup", "numref"): '<p id="numref">See {numref}`fig-good`.</p>',
    ("raw-markup", "dollars"): '<p id="dollars">We have $$x^2$$ here.</p>',
    ("raw-markup", "paren"): '<p id="paren">The kernel <span>\\(\\Theta\\)</span> is fixed.</p>',
    ("raw-markup", "role"): '<p id="role">Then {math}`x` follows.</p>',
    ("raw-markup", "html"): '<p id="html">&lt;div class="admonition"&gt; text</p>',
    ("figure-uncaptioned", "bare"):
        f'<div class="cell"><div class="cell_output"><img id="bare" src="{PIXEL}"></div></div>',
    ("figure-uncaptioned", "nocap"): f'<figure id="fig-nocap"><img id="nocap" src="{PIXEL}">'
                                     '</figure><a href="#fig-nocap">here</a>',
    ("figure-uncited", "fig-lonely"):
        f'<figure id="fig-lonely"><img src="{PIXEL}"><figcaption>Fig. 2 Alone.'
        '<a class="headerlink" href="#fig-lonely">#</a></figcaption></figure>',
    ("figure-no-image", "printed"):
        '<div class="cell_output"><div class="output text_plain"><pre id="printed">'
        "&lt;Figure size 640x480 with 1 Axes&gt;</pre></div></div>",
    ("table-nan", "nan-cell"): '<table><tr><td id="nan-cell">nan</td><td>1.5</td></tr></table>',
    ("table-nan", "none-cell"): '<table><tr><td id="none-cell">None</td></tr></table>',
    ("table-format", "zero-cell"): '<table><tr><td id="zero-cell">0.0000</td></tr></table>',
    ("text-nan", "nan-text"):
        '<p id="nan-text">The exponent is <span class="pasted-text">nan</span>.</p>',
    ("error-output", "tb"): '<div class="output traceback" id="tb">Traceback ...</div>',
}


@pytest.mark.browser
def test_a_clean_page_has_no_findings_and_its_claims_are_counted(chromium, tmp_path):
    shot = tmp_path / "shots" / "good.png"
    report = check_page(chromium, _page(tmp_path, "good.html", GOOD), screenshot_to=shot)
    assert report.findings == [], summary([report])
    assert report.failed_claims == 2 and report.images == 1
    assert _png_size(shot) == (VIEWPORT_WIDTH, report.height)


@pytest.mark.browser
def test_every_bad_element_is_found_and_named(chromium, tmp_path):
    body = GOOD + "\n".join(BAD.values())
    report = check_page(chromium, _page(tmp_path, "bad.html", body), name="book/bad.html")
    found = set()
    for finding in report.findings:
        ids = [ident for _, ident in BAD if f"#{ident}" in finding.element]
        assert len(ids) == 1, f"a finding on no bad element: {finding}"
        found.add((finding.check, ids[0]))
    assert found == set(BAD), summary([report])
    message = str(report.findings[0])
    assert message.startswith("book/bad.html: [") and "Fix: " in message


@pytest.mark.browser
def test_the_stylesheet_wraps_code_and_boxes_wide_tables(chromium, tmp_path):
    body = (f'<div class="cell"><div class="cell_input"><pre>{LONG_CODE}</pre></div>'
            f'<div class="cell_output"><div class="output text_html">{WIDE_TABLE}</div></div>'
            f'<div class="cell_output"><pre>{"x" * 300}</pre></div></div>')
    plain = check_page(chromium, _page(tmp_path, "plain.html", body))
    assert {f.check for f in plain.findings} == {"code-overflow", "column-overflow"}
    styled = check_page(chromium, _page(tmp_path, "styled.html", body, css=True))
    assert styled.findings == [], summary([styled])


# --- the smoke book -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smoke_book():
    root = repo_root()
    return root, build_book("smoke", root=root, log=lambda *_: None)


@pytest.fixture(scope="session")
def smoke_reports(smoke_book):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    root, html = smoke_book
    return {r.page.stem: r for r in check_book(chromium, html, screenshots_dir(root, "smoke"))}


@pytest.mark.slow
def test_every_chapter_has_a_smoke_record(smoke_book):
    root, _ = smoke_book
    for chapter in CHAPTERS:
        record = json.loads(record_path(root, "smoke", chapter).read_text())
        assert record["profile"] == "smoke" and record["results"], chapter
        assert record["wall_seconds"] > 0


@pytest.mark.slow
def test_book_pages_exist_and_use_local_mathjax_and_the_stylesheet(smoke_book):
    _, html = smoke_book
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "ntkbook.css").is_file()
    for chapter in CHAPTERS:
        page = (html / "book" / f"{chapter}.html").read_text()
        assert "_static/mathjax/tex-chtml.js" in page and "_static/ntkbook.css" in page
        assert "cdn.jsdelivr" not in page and "injected-parameters" not in page


@pytest.mark.slow
def test_run_report_shows_times_claims_and_the_machine(smoke_book):
    root, html = smoke_book
    book = json.loads(book_record_path(root, "smoke").read_text())
    machine = book["machine"]
    assert machine["matmul_gflops"]["float32"] > 0 and machine["matmul_gflops"]["float64"] > 0
    assert machine["logical_cpus"] >= 1
    assert [c["chapter"] for c in book["chapters"]] == list(CHAPTERS)
    report = (html / "book" / "run_report.html").read_text()
    assert all(chapter in report for chapter in CHAPTERS)
    assert "Execution statistics" in report and "GFLOP/s" in report
    assert "Where the time goes" in report and report.count("slowest") >= 1
    for entry in book["chapters"]:
        assert f"{entry['wall_seconds']:.1f}" in report


@pytest.mark.slow
@pytest.mark.browser
def test_pages_render_in_chromium(smoke_book, smoke_reports):
    root, _ = smoke_book
    assert {*CHAPTERS, "intro", "run_report"} <= set(smoke_reports)
    for chapter in CHAPTERS:
        report = smoke_reports[chapter]
        assert report.math_elements > 0, f"{chapter}: no typeset math"
        assert report.images > 0, f"{chapter}: no images"
        record = json.loads(record_path(root, "smoke", chapter).read_text())
        assert report.failed_claims == len(failed_claims(record)), (
            f"{chapter}: {report.failed_claims} claim admonitions on the page, "
            f"{len(failed_claims(record))} failed claims in the record")
    assert smoke_reports["intro"].math_elements > 0


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_has_a_full_page_screenshot(smoke_book, smoke_reports):
    root, _ = smoke_book
    for name, report in smoke_reports.items():
        shot = screenshots_dir(root, "smoke") / f"{name}.png"
        assert report.screenshot == shot and _png_size(shot) == (VIEWPORT_WIDTH, report.height)


@pytest.mark.slow
@pytest.mark.browser
def test_pages_pass_every_browser_check(smoke_reports):
    reports = list(smoke_reports.values())
    assert not any(r.findings for r in reports), "\n" + summary(reports)
