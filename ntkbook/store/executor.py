"""An executor that runs each task at once in this process: the default for every sweep."""

from __future__ import annotations

from concurrent.futures import Executor, Future


class InProcessExecutor(Executor):
    """Runs each task at ``submit``, in this process: the default, and the reference."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future
