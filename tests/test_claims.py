"""Prose that checks itself: claims in the record, the sentence or an admonition on the page."""

import json

import nbformat
import numpy as np
import pytest
from probes import PROBE, make_probe_root

from ntkbook.pipeline import build, check_parameters, claim, runner
from ntkbook.pipeline.glue import (
    CLAIM_MIME,
    FAILED_TITLE,
    Claim,
    close,
    glued_claims,
    glued_values,
    interval_contains,
    interval_excludes,
    less,
    ordered,
)
from ntkbook.pipeline.parameters import UnknownParameterError

TRUE_TEXT = "The value *21* is twenty-one times the scale."
FALSE_TEXT = "The scale 1 exceeds one hundred."


@pytest.fixture
def probe_root(tmp_path, monkeypatch):
    return make_probe_root(tmp_path, monkeypatch)


def test_claim_shows_the_sentence_or_an_admonition():
    good = Claim("a", np.bool_(True), "ReLU beats ELU.", {"relu": 0.1}, 0.05)
    assert good.markdown() == "ReLU beats ELU." and good.holds is True
    bad = Claim("b", np.float64(0.3) > 1, "Sigmoid is **worst**.", {"sigmoid": 0.3, "x": np.nan},
                tolerance="rtol 0.1")
    md = bad.markdown()
    assert '<div class="admonition warning claim-failed"' in md and FAILED_TITLE in md
    assert "\n\nSigmoid is **worst**.\n\n" in md  # Markdown between blank lines: rendered
    assert "sigmoid = 0.3; x = —; tolerance rtol 0.1" in md
    assert bad.record() == {"name": "b", "holds": False, "text": "Sigmoid is **worst**.",
                            "numbers": {"sigmoid": 0.3, "x": None}, "tolerance": "rtol 0.1"}
    assert set(bad._repr_mimebundle_()) == {"text/plain", "text/markdown", CLAIM_MIME}
    for wrong in (0.5, 1, np.array([True, False]), "yes"):
        with pytest.raises(TypeError, match="a claim holds or not"):
            Claim("c", wrong, "text")
    assert claim.__kwdefaults__ == {"numbers": None, "tolerance": None}


def test_predicates_and_their_tolerances():
    assert close(1.0, 1.04, rtol=0.05) and not close(1.0, 1.06, rtol=0.05)
    assert close([1.0, 2.0], [1.0, 2.0 + 1e-9], rtol=0, atol=1e-8)
    assert not close(np.nan, np.nan, rtol=1.0)
    assert interval_contains(0.1, 0.3, 0.2) and not interval_contains(0.1, 0.3, 0.4)
    assert interval_excludes(0.1, 0.3, 0.4) and not interval_excludes(0.1, 0.3, 0.2)
    assert not interval_excludes(np.nan, np.nan, 0.2)  # an unknown interval excludes nothing
    assert less(1.0, 2.0, margin=0.5) and not less(1.0, 1.2, margin=0.5)
    assert ordered([3, 2, 1], decreasing=True) and not ordered([1, 3, 2])
    assert isinstance(close(np.float32(1), 1, rtol=0), bool)


def test_record_lists_claims_and_page_shows_sentence(probe_root):
    run = runner.run_chapter(PROBE, "smoke", root=probe_root)
    record = json.loads(run.record.read_text())
    assert [(c["name"], c["holds"]) for c in record["claims"]] == [
        ("probe_true", True), ("probe_false", False)]
    true, false = record["claims"]
    assert true["text"] == TRUE_TEXT and true["numbers"] == {"value": 21}
    assert true["tolerance"] == 1e-12
    assert false == {"name": "probe_false", "holds": False, "text": FALSE_TEXT,
                     "numbers": {"scale": 1, "bound": 100}, "tolerance": None}
    assert "probe_true" not in record["results"]  # claims are not results
    assert [c["name"] for c in run.failed_claims] == ["probe_false"]
    nb = nbformat.read(run.notebook, as_version=4)
    assert glued_claims(nb) == record["claims"] and glued_values(nb) == record["results"]
    shown = {}
    cell = next(c for c in nb.cells if "claim(" in c.source)
    for output in cell.outputs:  # nothing displayed, everything glued
        meta = output.metadata["scrapbook"]
        shown[meta["name"]] = output.data.get(meta["mime_prefix"] + "text/markdown")
    assert shown["probe_true"] == TRUE_TEXT
    assert FAILED_TITLE in shown["probe_false"] and FALSE_TEXT in shown["probe_false"]
    again = runner.run_chapter(PROBE, "smoke", root=probe_root)
    assert not again.executed and again.failed_claims == run.failed_claims


def _probe_book(root):
    """What ``ntkbook build`` needs around the probe: config, toc and a (dummy) MathJax."""
    (root / "_config.yml").write_text(
        'title: probe\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n'
        "parse:\n  myst_enable_extensions: [amsmath, dollarmath, colon_fence]\n"
        "sphinx:\n  config:\n    html_static_path: [book/_static]\n"
        "    mathjax_path: mathjax/tex-chtml.js\n")
    (root / "_toc.yml").write_text(
        f"format: jb-book\nroot: book/{PROBE}\nchapters:\n- file: book/run_report\n")
    mathjax = root / build.MATHJAX_ENTRY
    mathjax.parent.mkdir(parents=True)
    mathjax.write_text("// stands in for MathJax\n")


def test_build_renders_failed_claim_as_admonition_and_prints_it(probe_root, monkeypatch):
    """A real jupyter-book 1.x build (-W) of the probe chapter: the true claim is a paragraph,
    the false one an admonition with its numbers; the build log lists the failed claim."""
    from bs4 import BeautifulSoup

    _probe_book(probe_root)
    monkeypatch.setattr(build, "CHAPTERS", (PROBE,))
    log = []
    html = build.build_book("smoke", root=probe_root, log=log.append)
    text = "\n".join(map(str, log))
    assert "claims: 1 not supported by this run" in text
    assert f"{PROBE}: probe_false: {FALSE_TEXT} (scale = 1; bound = 100)" in text
    page = BeautifulSoup((html / "book" / f"{PROBE}.html").read_text(), "html.parser")
    sentence = [p for p in page.find_all("p") if "twenty-one times" in p.get_text()]
    assert sentence and sentence[0].find("em").get_text() == "21"
    assert not sentence[0].find_parent("div", class_="admonition")
    boxes = page.select("div.admonition.warning.claim-failed")
    assert len(boxes) == 1
    assert boxes[0].select_one("p.admonition-title").get_text() == FAILED_TITLE
    assert FALSE_TEXT in boxes[0].get_text() and "scale = 1; bound = 100" in boxes[0].get_text()
    assert "{glue" not in page.get_text()


def test_check_parameters_compares_injected_with_declared():
    history = ["", "scale = 2\nfail_on = -1", "# Parameters\nscale = 3\n", "check_parameters()"]
    check_parameters({"In": history})
    check_parameters({"In": ["", "scale = 2", "x = 1"]})  # nothing injected: nothing to check
    with pytest.raises(UnknownParameterError,
                       match=r"unknown parameter\(s\) nope for this notebook; it declares: "
                             r"fail_on, scale"):
        check_parameters({"In": history[:2] + ["# Parameters\nnope = 1\nscale = 3\n", ""]})
