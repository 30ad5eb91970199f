"""A chapter refuses parameters it does not declare, however it is run.

``ntkbook run`` checks the names before anything runs (:func:`ntkbook.pipeline.runner.
resolve_parameters`). Plain papermill (``papermill book/CH.ipynb out.ipynb -p NAME VALUE``) only
warns about an unknown name and runs on; so each chapter calls :func:`check_parameters` right
after its ``parameters`` cell, in the kernel, where papermill runs it too::

    from ntkbook.pipeline import check_parameters, glue  # the chapter's import line
    check_parameters(globals())                          # the one line each chapter adds

It compares the cell papermill injected (``# Parameters`` followed by assignments) with the
``parameters`` cell just before it, both read from IPython's input history ``In``, and raises
:class:`UnknownParameterError` naming the unknown and the declared parameters. Without an injected
cell (the notebook opened in Jupyter) there is nothing to check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

INJECTED_HEADER = "# Parameters"


class UnknownParameterError(ValueError):
    """A parameter was passed that the notebook's ``parameters`` cell does not declare."""


def unknown_parameters_message(unknown: Iterable[str], declared: Iterable[str],
                               where: str = "this notebook") -> str:
    """The one wording of the error, for ``ntkbook run`` and for the notebook itself."""
    return (f"unknown parameter(s) {', '.join(sorted(unknown))} for {where}; "
            f"it declares: {', '.join(sorted(declared))}")


def assigned_names(source: str) -> set[str]:
    """Names assigned at the top level of a cell (IPython magics and shell lines skipped)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    names: set[str] = set()
    for node in ast.parse("\n".join(lines)).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _is_injected(source: str) -> bool:
    return source.lstrip().splitlines()[:1] == [INJECTED_HEADER]


def check_parameters(namespace: dict[str, Any] | None = None) -> None:
    """Raise if papermill injected a parameter that the ``parameters`` cell does not declare.

    Args:
        namespace: the notebook's ``globals()`` (it holds IPython's input history ``In``);
            default: the running IPython shell's namespace.

    Raises:
        UnknownParameterError: naming the unknown parameters and the declared ones.
    """
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    history = [str(cell) for cell in namespace.get("In", [])]
    for index in range(len(history) - 1, 0, -1):
        if _is_injected(history[index]):
            injected = assigned_names(history[index])
            declared = assigned_names(history[index - 1])
            unknown = injected - declared
            if unknown:
                raise UnknownParameterError(unknown_parameters_message(unknown, declared))
            return
