"""Files under data/: named by a hash of the config that produced them, written atomically,
validated on load, and regenerated (with a warning saying why) when missing, corrupt or stale.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

try:  # POSIX advisory locks; elsewhere two processes may make the same file twice (harmless, slower)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT_VERSION = 1


class DataFileError(ValueError):
    """A file under data/ is corrupt, stale or of the wrong kind. The message says which and why."""


def fast_mode() -> bool:
    """True when the environment variable GBP_FAST is set to something other than 0/false/no/empty."""
    return os.environ.get("GBP_FAST", "").strip().lower() not in ("", "0", "false", "no")


def data_dir() -> Path:
    """The cache folder: $GBP_DATA_DIR if set; else the repository's data/ folder, which holds the
    committed full-mode datasets, models and runs. Fast mode (GBP_FAST=1) caches under
    build/fast/data/ instead, so quick runs never mix their small models into data/."""
    root = os.environ.get("GBP_DATA_DIR")
    repo = Path(__file__).resolve().parents[1]
    path = Path(root) if root else (repo / "build" / "fast" / "data" if fast_mode() else repo / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def as_plain(obj: Any) -> Any:
    """Dataclasses (possibly nested) to plain dicts, so configs hash and serialise the same way."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: as_plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    return obj


def config_hash(*configs: Any) -> str:
    """12 hex characters that change whenever any field of any config changes."""
    text = json.dumps([as_plain(c) for c in configs], sort_keys=True)
    return hashlib.sha256(f"v{FORMAT_VERSION}:{text}".encode()).hexdigest()[:12]


def _log_use(path: Path) -> None:
    """Append ``path`` to the file named by $GBP_CACHE_LOG, if set: which cached files a run really used
    (to prune data/ of files no notebook needs any more)."""
    log = os.environ.get("GBP_CACHE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{Path(path).resolve()}\n")


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call ``write(f)`` on a temporary file in the same folder, then rename it to ``path``: readers
    never see half a file, and a failed write leaves the old file (if any) untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(payload: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: readers never see half a file."""
    _log_use(path)
    atomic_write(path, lambda f: torch.save(payload, f))


def load_payload(path: Path, kind: str, config: Any | None = None) -> dict:
    """Load a file written by ``atomic_save`` and check its kind, format version and config.

    Raises:
        FileNotFoundError if missing; DataFileError naming the problem if corrupt or stale.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    _log_use(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means the file cannot be trusted
        reason = str(exc).split(". ")[0].strip()  # torch appends paragraphs of advice; keep the cause
        raise DataFileError(f"{path} is corrupt or not a gbp_utils file ({type(exc).__name__}: {reason}). "
                            "Delete it and it will be regenerated.") from exc
    if not isinstance(payload, dict) or "meta" not in payload:
        raise DataFileError(f"{path} has no metadata; it was not written by gbp_utils. Delete it.")
    meta = payload["meta"]
    if meta.get("kind") != kind:
        raise DataFileError(f"{path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataFileError(f"{path} has format version {meta.get('format_version')}, this code reads "
                            f"version {FORMAT_VERSION}. Delete it and it will be regenerated.")
    if config is not None and meta.get("config") != as_plain(config):
        raise DataFileError(f"{path} was made with a different config (stale). Delete it or pass the "
                            "config it was made with.")
    return payload


@contextlib.contextmanager
def creation_lock(path: Path):
    """Hold an exclusive lock for making ``path``: processes that need the same missing file (``reproduce``'s
    cache jobs of two training seeds both need notebook 09's encoder) make it once -- the others wait, then
    load it. The lock is an empty file in the temporary folder named by a hash of ``path``'s absolute path
    (data/ stays clean); it is released when the block ends or the process dies."""
    if fcntl is None:
        yield
        return
    name = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:20]
    try:
        folder = Path(tempfile.gettempdir()) / "gbp_utils-locks"
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / f"{name}.lock", "a")
    except OSError:  # no writable temporary folder: make the file without the lock
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load_valid(path: Path, kind: str, config: Any, validate) -> dict | None:
    """The validated payload at ``path``, or None if it is missing or bad (a warning says why it is bad)."""
    try:
        payload = load_payload(path, kind, config)
        if validate is not None:
            validate(payload)
        return payload
    except FileNotFoundError:
        return None
    except DataFileError as exc:
        warnings.warn(f"Regenerating {Path(path).name}: {exc}", stacklevel=3)
        return None


def load_or_create(path: Path, kind: str, config: Any, create: Callable[[], dict],
                   validate: Callable[[dict], None] | None = None) -> dict:
    """Return the validated payload at ``path``; (re)create and atomically save it if missing or bad. Making
    it holds ``creation_lock(path)``: a process that finds the file missing while another makes it waits and
    loads that one's file instead of computing it again."""
    seen = _identity(path)
    payload = _load_valid(path, kind, config, validate)
    if payload is not None:
        return payload
    with creation_lock(path):
        now = _identity(path)
        if now is not None and now != seen:  # made by another process while this one waited for the lock
            payload = _load_valid(path, kind, config, validate)
            if payload is not None:
                return payload
        return _create(path, kind, config, create, validate)


def _identity(path: Path) -> tuple | None:
    """Which file is at ``path`` (inode, size, modification time), or None: a rename over it changes it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _create(path: Path, kind: str, config: Any, create: Callable[[], dict], validate) -> dict:
    start = time.perf_counter()
    payload = create()
    # "seconds": what making the file cost on the machine that made it (cost reports; not part of the key)
    payload["meta"] = {**payload.get("meta", {}), "kind": kind, "format_version": FORMAT_VERSION,
                       "config": as_plain(config), "seconds": round(time.perf_counter() - start, 3)}
    if validate is not None:
        validate(payload)
    atomic_save(payload, path)
    return payload
