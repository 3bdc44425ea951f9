"""The job queue on a real state database: claims, serialization per app, coalescing,
leases, recovery and delivery dedupe."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from hostctl.state import Store
from hostctl.state.queue import (
    Delivery,
    claim,
    enqueue,
    finish,
    job,
    lease_owner,
    record_delivery,
    recover_jobs,
    renew_lease,
    requeue,
)


@pytest.fixture
def store(tmp_path):
    found = Store(tmp_path / "state.db")
    found.insert_app("blog", ["blog.test"])
    found.insert_app("shop", ["shop.test"])
    return found


def test_newer_deploys_supersede_queued_ones_not_the_running_one(store):
    first = enqueue(store, "blog", "cli:me", "/src", "a")
    running = claim(store, "me:1")
    assert running is not None and running.id == first.id and running.attempts == 1
    queued = [enqueue(store, "blog", "push:k", "/src", ref) for ref in "bcde"]
    states = [job(store, q.id).status for q in queued]
    assert states == ["superseded", "superseded", "superseded", "queued"]
    chain = [job(store, q.id).superseded_by for q in queued[:3]]
    assert chain == [q.id for q in queued[1:]], "each points at the deploy that replaced it"
    assert job(store, first.id).status == "running"


def test_one_running_job_per_app_but_apps_run_side_by_side(store):
    blog_one = enqueue(store, "blog", "cli", "/s", "1")
    assert claim(store, "w:1") == job(store, blog_one.id)
    blog_two = enqueue(store, "blog", "cli", "/s", "2")
    shop = enqueue(store, "shop", "cli", "/s", "1")
    second = claim(store, "w:2")
    assert second is not None and second.id == shop.id, "blog is busy, shop is not"
    assert claim(store, "w:3") is None
    assert claim(store, "w:3", blog_two.id) is None, "not even by id"
    finish(store, blog_one.id, "done", release=4)
    assert job(store, blog_one.id).release == 4 and job(store, blog_one.id).lease_owner is None
    assert claim(store, "w:3") == job(store, blog_two.id)


def test_a_dead_owner_is_retried_once_then_failed(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{socket.gethostname()}:{dead.pid}"
    queued = enqueue(store, "blog", "cli", "/s", "1")
    claim(store, owner)
    assert recover_jobs(store) == [f"blog: job {queued.id} was cut short; it will run again"]
    assert job(store, queued.id).status == "queued"
    assert claim(store, owner) is not None
    assert "marked failed" in recover_jobs(store)[0]
    failed = job(store, queued.id)
    assert failed.status == "failed" and "cut short 2 times" in (failed.error or "")


def test_a_live_lease_is_left_alone_and_renewed(store):
    owner = f"{socket.gethostname()}:{os.getpid()}"
    queued = enqueue(store, "blog", "cli", "/s", "1")
    before = claim(store, owner)
    assert before is not None and before.lease_expires is not None
    time.sleep(0.01)
    assert renew_lease(store, queued.id, owner)
    assert not renew_lease(store, queued.id, "someone:else")
    assert (job(store, queued.id).lease_expires or 0) > before.lease_expires
    assert recover_jobs(store) == []
    other_machine = enqueue(store, "shop", "cli", "/s", "1")
    claim(store, "elsewhere:1")
    assert recover_jobs(store) == [], "another machine's lease only ends by expiry"
    store.db.execute("UPDATE jobs SET lease_expires = 0 WHERE id = ?", (other_machine.id,))
    assert len(recover_jobs(store)) == 1


def test_requeue_gives_the_attempt_back(store):
    queued = enqueue(store, "blog", "cli", "/s", "1")
    claim(store, "w:1")
    requeue(store, queued.id)
    again = job(store, queued.id)
    assert again.status == "queued" and again.attempts == 0 and again.lease_owner is None


def test_a_delivery_is_recorded_once_with_its_job_in_one_transaction(store):
    delivery = Delivery("d-1", "blog", "push", "1" * 64)
    new, queued = record_delivery(store, delivery, "queued", ("webhook:d-1", "/s", "f" * 40))
    assert new and queued is not None and queued.ref == "f" * 40
    assert record_delivery(store, delivery, "queued", ("webhook:d-1", "/s", "f" * 40)) == (
        False,
        None,
    )
    assert store.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    ping = record_delivery(store, Delivery("d-2", "blog", "ping", "2" * 64), "pong")
    assert ping == (True, None)
    same_body = Delivery("d-3", "blog", "push", "1" * 64)  # an old body with a new id
    assert record_delivery(store, same_body, "queued", ("webhook:d-3", "/s", "f" * 40)) == (
        False,
        None,
    )
    assert store.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_a_live_local_owner_keeps_its_job_even_past_its_lease(store):
    queued = enqueue(store, "blog", "cli", "/s", "1")
    claim(store, lease_owner())
    store.db.execute("UPDATE jobs SET lease_expires = 0 WHERE id = ?", (queued.id,))
    assert recover_jobs(store) == [] and job(store, queued.id).status == "running"


def test_a_lease_whose_pid_now_belongs_to_another_process_is_recovered(store):
    """After a reboot the dead agent's pid may be alive again, as someone else."""
    queued = enqueue(store, "blog", "cli", "/s", "1")
    before_reboot = f"{socket.gethostname()}:{os.getpid()}:an-earlier-boot/12345"
    claim(store, before_reboot)
    assert recover_jobs(store) == [f"blog: job {queued.id} was cut short; it will run again"]
    assert job(store, queued.id).status == "queued"


def test_an_old_job_back_in_the_queue_never_overtakes_a_newer_one(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = enqueue(store, "blog", "cli", "/s", "old")
    claim(store, f"{socket.gethostname()}:{dead.pid}")
    newer = enqueue(store, "blog", "cli", "/s", "new")
    assert recover_jobs(store) == [f"blog: job {old.id} was cut short; a newer one replaces it"]
    assert (
        job(store, old.id).status == "superseded" and job(store, old.id).superseded_by == newer.id
    )
    stopping = enqueue(store, "shop", "cli", "/s", "a")
    assert claim(store, "w:1", stopping.id) is not None
    newest = enqueue(store, "shop", "cli", "/s", "b")
    requeue(store, stopping.id)
    assert job(store, stopping.id).status == "superseded"
    assert claim(store, "w:1", newest.id) == job(store, newest.id)
