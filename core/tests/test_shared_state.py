"""The embedded default's shared-state file: Redis's few semantics that the gateway relies on,
held across processes."""

import multiprocessing
import time

import pytest

from core.shared_state import SharedState


@pytest.fixture
def store(tmp_path) -> SharedState:
    return SharedState(tmp_path / "state.sqlite3")


def test_set_get_delete_and_nx(store):
    assert store.get("k") is None
    assert store.set("k", b"one", ttl=60)
    assert not store.set("k", b"two", ttl=60, nx=True)  # a live value is kept
    assert store.get("k") == b"one"
    assert store.set("k", b"three", ttl=60)  # without nx it is replaced
    assert store.get("k") == b"three"
    store.delete("k")
    assert store.get("k") is None
    assert store.set("k", b"four", ttl=60, nx=True)


def test_expired_values_read_as_absent_and_can_be_claimed_again(store):
    store.set("claim", b"x", ttl=0.05)
    time.sleep(0.1)
    assert store.get("claim") is None
    assert store.set("claim", b"y", ttl=60, nx=True)


def test_incr_counts_from_zero(store):
    assert store.incr("n", ttl=60) == 1
    assert store.incr("n", 5, ttl=60) == 6
    assert store.get("n") == b"6"


def test_atomic_rolls_back_on_error(store):
    store.set("a", b"1", ttl=60)
    with pytest.raises(RuntimeError), store.atomic():
        store.set("a", b"2", ttl=60)
        store.incr("b", ttl=60)
        raise RuntimeError("boom")
    assert store.get("a") == b"1"
    assert store.get("b") is None


def _count(path: str, times: int) -> None:
    store = SharedState(path)
    for _ in range(times):
        with store.atomic():  # a read-modify-write, as the rate limit's check-and-count
            value = int(store.get("hits") or 0)
            store.set("hits", str(value + 1).encode(), ttl=60)


def test_two_processes_never_lose_an_update(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    SharedState(path).set("hits", b"0", ttl=60)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count, args=(path, 300)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert SharedState(path).get("hits") == b"600"
