"""Tests for gbp_utils.cache: the data folder, config hashes, atomic writes and load_or_create."""

import dataclasses
import re
import warnings
from pathlib import Path

import pytest
import torch

import gbp_utils
from gbp_utils import cache
from gbp_utils.env import WallConfig

REPO = Path(gbp_utils.__file__).resolve().parents[1]
FAST_DATA = REPO / "build" / "fast" / "data"  # build/ is git-ignored


# --------------------------------------------------------------------------------------------
# The data folder
# --------------------------------------------------------------------------------------------
def test_data_dir_follows_gbp_data_dir_and_creates_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GBP_DATA_DIR", str(tmp_path / "a" / "b"))
    assert cache.data_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("fast, expected", [("1", FAST_DATA), ("yes", FAST_DATA), ("0", REPO / "data"),
                                            ("false", REPO / "data"), (None, REPO / "data")])
def test_data_dir_without_gbp_data_dir_depends_on_fast_mode(monkeypatch, fast, expected):
    monkeypatch.delenv("GBP_DATA_DIR")
    if fast is None:
        monkeypatch.delenv("GBP_FAST", raising=False)
    else:
        monkeypatch.setenv("GBP_FAST", fast)
    assert cache.fast_mode() is (expected == FAST_DATA)
    path = cache.data_dir()
    assert path == expected and path.is_dir()


def test_gbp_data_dir_wins_over_fast_mode(monkeypatch, data_dir):
    monkeypatch.setenv("GBP_FAST", "1")
    assert cache.data_dir() == data_dir


# --------------------------------------------------------------------------------------------
# config_hash
# --------------------------------------------------------------------------------------------
def test_config_hash_changes_with_any_field_and_ignores_dict_order():
    base = {"wall": WallConfig(), "n": 3, "items": [1, 2]}
    h = cache.config_hash(base)
    assert re.fullmatch(r"[0-9a-f]{12}", h)
    assert cache.config_hash({"items": [1, 2], "n": 3, "wall": WallConfig()}) == h
    others = [{**base, "wall": WallConfig(door_width=1.0)}, {**base, "n": 4}, {**base, "items": [2, 1]}]
    assert len({cache.config_hash(o) for o in others} | {h}) == 4
    # nested dataclasses hash by their fields
    assert cache.as_plain(base)["wall"] == dataclasses.asdict(WallConfig())


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------
def test_atomic_write_replaces_the_file_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep" / "f.txt"  # parent folders are created
    cache.atomic_write(path, lambda f: f.write("one"), mode="w")
    cache.atomic_write(path, lambda f: f.write("two"), mode="w")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    path = tmp_path / "f.pt"
    cache.atomic_save({"x": torch.ones(2)}, path)
    before = path.read_bytes()

    def half_then_fail(f):
        f.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.atomic_write(path, half_then_fail)
    with pytest.raises(Exception):
        cache.atomic_save({"unpicklable": lambda: 0}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["f.pt"]
    assert path.read_bytes() == before


# --------------------------------------------------------------------------------------------
# load_or_create
# --------------------------------------------------------------------------------------------
class Creator:
    def __init__(self, value=1.0):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return {"x": torch.full((3,), self.value)}


def test_load_or_create_creates_once_then_loads(data_dir):
    path, make = cache.data_dir() / "thing.pt", Creator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing file is created silently
        first = cache.load_or_create(path, "thing", {"a": 1}, make)
    again = cache.load_or_create(path, "thing", {"a": 1}, make)
    assert make.calls == 1 and torch.equal(first["x"], again["x"])
    seconds = again["meta"].pop("seconds")
    assert again["meta"] == {"kind": "thing", "format_version": cache.FORMAT_VERSION, "config": {"a": 1}}
    assert 0 <= seconds < 60, "what making the file cost is stored beside its config"


@pytest.mark.parametrize("spoil, reason", [
    (lambda path: path.write_bytes(b"garbage"), "corrupt"),
    (lambda path: cache.atomic_save({"meta": {"kind": "other", "format_version": cache.FORMAT_VERSION}}, path),
     "holds a 'other', expected a 'thing'"),
    (lambda path: cache.atomic_save({"meta": {"kind": "thing", "format_version": cache.FORMAT_VERSION,
                                              "config": {"a": 2}}}, path), "different config"),
])
def test_load_or_create_regenerates_a_bad_file_with_a_warning_naming_it(data_dir, spoil, reason):
    path, make = cache.data_dir() / "thing.pt", Creator()
    spoil(path)
    with pytest.warns(UserWarning, match=rf"Regenerating thing\.pt: .*{re.escape(reason)}"):
        payload = cache.load_or_create(path, "thing", {"a": 1}, make)
    assert make.calls == 1 and torch.equal(payload["x"], torch.ones(3))
    assert cache.load_payload(path, "thing", {"a": 1})["meta"]["config"] == {"a": 1}


def test_load_or_create_regenerates_what_its_validator_rejects(data_dir):
    path = cache.data_dir() / "thing.pt"

    def validate(payload):
        if not (payload["x"] > 0).all():
            raise cache.DataFileError("x must be positive")

    cache.load_or_create(path, "thing", {}, Creator(-1.0))  # no validator: saved as is
    with pytest.warns(UserWarning, match="Regenerating thing.pt: x must be positive"):
        payload = cache.load_or_create(path, "thing", {}, Creator(2.0), validate)
    assert (payload["x"] == 2.0).all()
    with pytest.raises(cache.DataFileError, match="x must be positive"):  # a bad new payload is never saved
        cache.load_or_create(data_dir / "other.pt", "thing", {}, Creator(-1.0), validate)
    assert not (data_dir / "other.pt").exists()


def _load_or_create_in_child(path, marker):
    """A second process asking for ``path``; its creator leaves ``marker`` (it must not run)."""
    def make():
        marker.write_text("made")
        return {"x": torch.zeros(3)}
    payload = cache.load_or_create(path, "thing", {"a": 1}, make)
    raise SystemExit(0 if torch.equal(payload["x"], torch.ones(3)) else 3)


@pytest.mark.skipif(cache.fcntl is None, reason="creation locks need POSIX fcntl")
def test_a_process_waits_for_the_one_making_a_file_and_loads_it(data_dir, tmp_path):
    """Two processes needing the same missing file make it once: while one holds ``creation_lock``, the other
    waits, then loads the file the first one wrote instead of computing it again."""
    import multiprocessing
    import time
    path, marker = cache.data_dir() / "thing.pt", tmp_path / "child-made-it"
    with cache.creation_lock(path):
        child = multiprocessing.get_context("fork").Process(target=_load_or_create_in_child, args=(path, marker))
        child.start()
        time.sleep(1.0)  # the child finds no file and waits for the lock
        assert child.is_alive(), "the second process must wait while the file is being made"
        payload = cache._create(path, "thing", {"a": 1}, Creator(), None)
    child.join(timeout=60)
    assert child.exitcode == 0, "the waiting process must load the file made meanwhile"
    assert not marker.exists(), "the waiting process must not make the file again"
    assert torch.equal(payload["x"], torch.ones(3))
