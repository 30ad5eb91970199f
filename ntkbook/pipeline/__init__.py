"""The book's pipeline: run profiles, chapters executed with papermill into result records, glue,
the jupyter-book build, the ``ntkbook`` command and a headless-browser check of the pages.

Imports only :mod:`ntkbook.store` (and its own modules); only the chapters (for
:func:`ntkbook.pipeline.glue.glue`), the tests and ``python -m ntkbook`` import it. Modules:
:mod:`~ntkbook.pipeline.profiles`, :mod:`~ntkbook.pipeline.runner`, :mod:`~ntkbook.pipeline.glue`,
:mod:`~ntkbook.pipeline.build`, :mod:`~ntkbook.pipeline.cli`, :mod:`~ntkbook.pipeline.browser`.
"""
