"""The book's pipeline: run profiles, chapters executed with papermill into result records, glue
and claims, parameterised runs kept side by side, the jupyter-book build, the ``ntkbook`` command
and a headless-browser check of the pages.

Imports only :mod:`ntkbook.store` (and its own modules); only the chapters (for :func:`glue`,
:func:`claim` and :func:`check_parameters`), the tests and ``python -m ntkbook`` import it.
Modules: :mod:`~ntkbook.pipeline.profiles`, :mod:`~ntkbook.pipeline.runner`,
:mod:`~ntkbook.pipeline.runs`, :mod:`~ntkbook.pipeline.glue`,
:mod:`~ntkbook.pipeline.parameters`, :mod:`~ntkbook.pipeline.build`,
:mod:`~ntkbook.pipeline.cli`, :mod:`~ntkbook.pipeline.browser`.

The face is what a chapter needs, and light to import (no papermill, no jupyter-book).
"""

from ntkbook.pipeline.glue import (
    claim,
    close,
    glue,
    glue_figure,
    interval_contains,
    interval_excludes,
    less,
    ordered,
)
from ntkbook.pipeline.parameters import check_parameters

__all__ = ["check_parameters", "claim", "close", "glue", "glue_figure",
           "interval_contains",
           "interval_excludes", "less", "ordered"]
