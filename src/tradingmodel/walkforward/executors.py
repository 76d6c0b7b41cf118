"""Where tasks run: ``serial`` (this process), ``process`` (a pool over the cores) or ``ray`` (a cluster).

One interface: :meth:`Executor.run` takes a module-level function ``fn(shared, item)``, the ``shared``
input (the bars) and the items, and yields ``(index, result, error)`` as tasks finish; a failing task
yields its exception and the others go on. ``shared`` reaches each worker once: as the pool's initializer
argument (once per worker process) or as one object in Ray's object store (``ray.put``), never per task.
Workers return results; only the driver writes files.

Worker start-up: a fresh interpreter importing torch and ``torch._dynamo`` (which torch's optimisers
import on first use) costs ~10 s of CPU; the tasks themselves often take well under a second. The pool
therefore forks its workers from a *fork server*: one clean process (started once per driver, never
having run a torch op, so it holds no torch or OpenMP thread pools) that imports :data:`PRELOAD` once;
each worker is a fork of it and starts in milliseconds. ``start_method="spawn"`` gives every worker its
own fresh interpreter instead (the old behaviour; slower, measured in ``docs/walkforward.md``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

EXECUTORS = ("serial", "process", "ray")
# what a training task imports: loaded once in the fork server, inherited by every worker
PRELOAD = ("tradingmodel.walkforward.tasks", "torch._dynamo")
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a one-machine Ray, bound to 127.0.0.1
Outcome = tuple[int, Any, BaseException | None]


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Executor:
    """Runs ``fn(shared, item)`` for each item; subclasses decide where."""

    name = "serial"
    workers = 1

    def run(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any]) -> Iterator[Outcome]:
        for i, item in enumerate(items):
            try:
                yield i, fn(shared, item), None
            except Exception as e:  # noqa: BLE001 - reported per task, the others go on
                yield i, None, e

    def close(self) -> None:
        """Release workers (nothing to do in this process)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SHARED: Any = None


def _init_worker(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def ready(shared: Any, item: Any) -> int:
    """Import what a training task imports (:data:`PRELOAD`) and return this worker's pid: a probe of how
    long workers take to become ready (``benchmarks/walkforward.py``)."""
    import importlib
    import time

    for name in PRELOAD:
        importlib.import_module(name)
    time.sleep(float(item or 0))  # hold the worker, so the next probe goes to another one
    return os.getpid()


def _call(fn: Callable[[Any, Any], Any], item: Any) -> Any:
    return fn(_SHARED, item)


def _context(start_method: str) -> mp.context.BaseContext:
    if start_method not in ("forkserver", "spawn"):
        raise ValueError(f"start_method must be 'forkserver' or 'spawn', got {start_method!r}")
    if start_method == "forkserver" and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))  # takes effect when the server starts (once)
        return ctx
    return mp.get_context("spawn")  # never plain fork: the driver holds torch's threads


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """While workers start: hide the driver's ``__main__`` from multiprocessing, so a forked worker does not
    run the driver's main script or module again (for the ``tradingmodel`` script: import every command,
    seconds per worker). Python 3.11's fork server cannot preload it instead: its ``"__main__"`` preload
    looks for a ``main_path`` key that ``spawn.get_preparation_data`` never writes. Only for an ``fn`` that
    lives in an importable module (the tasks here); one defined in the script gets the script re-run."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)
            if "__spec__" not in saved:
                main.__dict__.pop("__spec__", None)


class ProcessExecutor(Executor):
    """A pool of worker processes forked from a clean fork server (or spawned), never from the driver."""

    name = "process"

    def __init__(self, workers: int | None = None, start_method: str = "forkserver"):
        self.workers = max(1, workers or cores())
        self.context = _context(start_method)

    def run(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any]) -> Iterator[Outcome]:
        if not items:
            return
        with cf.ProcessPoolExecutor(
            min(self.workers, len(items)),
            mp_context=self.context,
            initializer=_init_worker,
            initargs=(shared,),
        ) as pool:
            hide = self.context.get_start_method() == "forkserver" and getattr(fn, "__module__", "") != "__main__"
            with _main_not_rerun() if hide else contextlib.nullcontext():
                futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}  # workers start here
            try:
                for fut in cf.as_completed(futures):
                    err = fut.exception()
                    yield futures[fut], (None if err else fut.result()), err
            except BaseException:
                for f in futures:
                    f.cancel()
                raise


def _ray_call(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    return fn(shared, item)


class RayExecutor(Executor):
    """Tasks on Ray: a cluster at ``address``, or a local instance started here (``num_cpus`` = cores,
    no dashboard, no usage statistics, bound to 127.0.0.1) and stopped again by :meth:`close`."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not address:
            # Ray swaps 127.0.0.1 for the host's address and listens on every interface unless it is told
            # that it runs on one machine (this variable, despite its name); read when ray is imported
            os.environ.setdefault(LOOPBACK_ONLY, "0")
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install 'tradingmodel[ray]'") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=workers or cores(),
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                    configure_logging=False,
                )
            self._started = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)

    def run(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any]) -> Iterator[Outcome]:
        ray = self._ray
        ref = ray.put(shared)  # once, into the object store; every task reads the same object
        pending = {self._remote.remote(fn, ref, item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(done[0])
                try:
                    yield i, ray.get(done[0]), None
                except ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    yield i, None, cause if isinstance(cause, BaseException) else RuntimeError(str(e))
                except ray.exceptions.RayError as e:  # a worker died, the node went away
                    yield i, None, RuntimeError(f"{type(e).__name__}: {e}")
        finally:
            for r in pending:
                ray.cancel(r, force=True)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def make_executor(name: str, *, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`)."""
    if name == "serial":
        return Executor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
    raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
