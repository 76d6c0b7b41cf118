"""The driver's record of finished tasks: ``<out>/tasks/<key>.parquet`` (test predictions) and
``<key>.json`` (training history, best epoch, checkpoint path).

Only the driver writes here. Each file goes to a temporary name and is renamed into place, the JSON
last: a task counts as finished when its JSON exists, so a run killed half-way leaves no half result
and the next run skips exactly the finished tasks.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from tradingmodel.walkforward.tasks import Task


class TaskStore:
    """Finished task results under ``root/tasks``."""

    def __init__(self, root: str | Path):
        self.dir = Path(root) / "tasks"

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.dir / f"{key}.parquet", self.dir / f"{key}.json"

    def finished(self, key: str) -> bool:
        frame, meta = self._paths(key)
        return meta.is_file() and frame.is_file()

    def save(self, task: Task, result: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        frame_path, meta_path = self._paths(task.key)
        meta = {k: v for k, v in result.items() if k != "frame"}
        meta.update(fold=task.fold.index, name=task.name, symbols=list(task.symbols))
        _atomic(frame_path, lambda p: result["frame"].to_parquet(p, index=False))
        _atomic(meta_path, lambda p: Path(p).write_text(json.dumps(meta, default=str)))

    def load(self, key: str) -> dict:
        frame_path, meta_path = self._paths(key)
        meta = json.loads(meta_path.read_text())
        meta["frame"] = pd.read_parquet(frame_path)
        return meta


def _atomic(path: Path, write: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)  # type: ignore[operator]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
