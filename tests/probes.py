"""A tiny probe chapter for the pipeline tests: parameters, glue, one true and one false claim,
the plain-papermill parameter check, and a cell that fails on request. Runs in about a second."""

import nbformat

PROBE = "99_probe"
PROBE_PROFILES = {"smoke": {"scale": 1}, "default": {}, "thesis": {}}

PROSE = """# Probe

The value is {glue:text}`probe_value`.

```{glue:md} probe_true
:format: myst
```

```{glue:md} probe_false
:format: myst
```
"""

CLAIMS = """\
from ntkbook.pipeline import check_parameters
from ntkbook.pipeline.glue import claim, close, glue

check_parameters(globals())
glue('probe_value', 21 * scale)
glue('probe_list', [1.5, scale])
claim('probe_true', close(21 * scale, 21.0 * scale, rtol=1e-12),
      f'The value *{21 * scale}* is twenty-one times the scale.',
      numbers={'value': 21 * scale}, tolerance=1e-12)
claim('probe_false', scale > 100, f'The scale {scale} exceeds one hundred.',
      numbers={'scale': scale, 'bound': 100})
"""


def probe_notebook():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("scale = 2\nfail_on = -1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(PROSE),
        params,
        nbformat.v4.new_code_cell(CLAIMS),
        nbformat.v4.new_code_cell(
            "if fail_on == scale:\n    raise ValueError(f'probe failure at scale={scale}')"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def make_probe_root(root, monkeypatch):
    """A checkout in ``root`` with only the probe chapter, registered in the profiles."""
    from ntkbook.pipeline import profiles, runner

    (root / "book").mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    nbformat.write(probe_notebook(), root / "book" / f"{PROBE}.ipynb")
    monkeypatch.setitem(profiles.CHAPTER_PARAMETERS, PROBE, PROBE_PROFILES)
    monkeypatch.setattr(runner, "CHAPTERS", runner.CHAPTERS + (PROBE,))
    return root

