"""Many processes importing the strategy at once: exactly one deletes stale numba caches."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from tradingmodel.strategy import jitcache

# loads jitcache.py alone (stdlib only), not the strategy package: the processes start in well under a second
WORKER = """
import importlib.util, sys, time
from pathlib import Path
spec = importlib.util.spec_from_file_location("jitcache", sys.argv[3])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
invalidate_stale_caches = mod.invalidate_stale_caches
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(invalidate_stale_caches(Path(sys.argv[1])))
"""


def _fake_package(root: Path) -> Path:
    pkg = root / "tradingmodel"
    for rel in jitcache.JIT_MODULES:
        src = Path(jitcache.__file__).resolve().parent.parent / rel
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, pkg / rel)
        cache = pkg / rel.rsplit("/", 1)[0] / "__pycache__"
        cache.mkdir(exist_ok=True)
        stem = Path(rel).stem
        (cache / f"{stem}.f-1.py311.nbi").write_bytes(b"index")
        (cache / f"{stem}.f-1.py311.1.nbc").write_bytes(b"code")
    return pkg


def test_concurrent_imports_delete_stale_caches_exactly_once(tmp_path) -> None:
    pkg = _fake_package(tmp_path)
    go = tmp_path / "go"
    cmd = [sys.executable, "-c", WORKER, str(pkg), str(go), jitcache.__file__]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    time.sleep(1.0)  # all of them waiting on the start file
    go.touch()
    answers = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(answers) == ["False"] * 5 + ["True"], answers
    assert not list(pkg.rglob("*.nbi")) and not list(pkg.rglob("*.nbc"))
    assert (pkg / "strategy" / "__pycache__" / "jit_sources.sha1").read_text() == jitcache.sources_hash(pkg)
    # a cache written after the check (a worker that recompiled) survives the next import
    fresh = pkg / "strategy" / "__pycache__" / "core.g-2.py311.nbi"
    fresh.write_bytes(b"new")
    assert jitcache.invalidate_stale_caches(pkg) is False and fresh.exists()
    # a source change invalidates again
    (pkg / "strategy" / "core.py").write_text((pkg / "strategy" / "core.py").read_text() + "\n# changed\n")
    assert jitcache.invalidate_stale_caches(pkg) is True and not fresh.exists()
