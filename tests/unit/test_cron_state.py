"""Cron runs in the state database: kept per job, and ended when an agent died mid-run."""

from pathlib import Path

from hostctl.state import Store
from hostctl.state.cron import KEPT_RUNS, end_interrupted, finish_run, runs, start_run


def test_runs_are_kept_per_job_and_unfinished_ones_end_as_interrupted(tmp_path: Path):
    store = Store(tmp_path / "state.db")
    store.insert_app("blog", [])
    for _ in range(KEPT_RUNS + 5):
        finish_run(store, start_run(store, "blog", "* * * * *", "./tick", 1), 0, "ok\n")
    start_run(store, "blog", "@daily", "./sweep", 1)
    assert len(runs(store, "blog", "./tick")) == KEPT_RUNS
    [going] = runs(store, "blog", "./sweep")
    assert going.exit_code is None and going.finished_at is None

    end_interrupted(store)
    [ended] = runs(store, "blog", "./sweep")
    assert ended.exit_code == -1 and ended.output == "interrupted: the agent stopped"
    assert {r.exit_code for r in runs(store, "blog", "./tick")} == {0}
