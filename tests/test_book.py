"""Every chapter executed under the smoke profile, the book built, and read in a real browser."""

import json

import pytest

from ntkbook.pipeline.browser import check_page, find_chromium
from ntkbook.pipeline.build import build_book
from ntkbook.pipeline.profiles import CHAPTERS
from ntkbook.pipeline.runner import record_path, repo_root

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def smoke_book():
    root = repo_root()
    return root, build_book("smoke", root=root, log=lambda *_: None)


def test_every_chapter_has_a_smoke_record(smoke_book):
    root, _ = smoke_book
    for chapter in CHAPTERS:
        record = json.loads(record_path(root, "smoke", chapter).read_text())
        assert record["profile"] == "smoke" and record["results"], chapter
        assert record["wall_seconds"] > 0


def test_book_pages_exist_and_use_local_mathjax(smoke_book):
    _, html = smoke_book
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for chapter in CHAPTERS:
        page = (html / "book" / f"{chapter}.html").read_text()
        assert "_static/mathjax/tex-chtml.js" in page
        assert "cdn.jsdelivr" not in page and "injected-parameters" not in page
    report = (html / "book" / "run_report.html").read_text()
    assert all(chapter in report for chapter in CHAPTERS)


@pytest.mark.browser
def test_pages_render_in_chromium(smoke_book):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    _, html = smoke_book
    for chapter in CHAPTERS:
        report = check_page(chromium, html / "book" / f"{chapter}.html")
        assert report.math_elements > 0, f"{chapter}: no typeset math"
        assert report.math_errors == 0, f"{chapter}: MathJax errors"
        assert report.images > 0 and not report.broken_images, (chapter, report.broken_images)
        assert report.error_outputs == 0, f"{chapter}: shows an error output"
    intro = check_page(chromium, html / "book" / "intro.html")
    assert intro.math_elements > 0 and intro.math_errors == 0
