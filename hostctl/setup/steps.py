"""A provisioning step is data: a name, what "done" means, and three callables. The runner
skips steps already done, applies the others and verifies them, and stops at the first
failure; since every check looks at the box itself, a re-run resumes there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hostctl.core.errors import HostctlError

Status = Literal["ok", "applied", "missing", "skipped", "failed"]


@dataclass(frozen=True)
class Step:
    name: str
    goal: str  # what is true once it is done, for messages
    check: Callable[[], bool]  # already done? changes nothing
    apply: Callable[[], None]  # may raise HostctlError
    verify: Callable[[], bool] | None = None  # after apply; default: check again
    # why this box goes without it (e.g. no systemd), or None; asked before ``check``
    skip: Callable[[], str | None] | None = None


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Status
    detail: str = ""


def run_steps(
    steps: list[Step], report: Callable[[StepResult], None], check_only: bool = False
) -> list[StepResult]:
    """Each step's result goes to ``report`` as it is known. A failed step raises a
    HostctlError naming it; with ``check_only`` nothing is applied."""
    results = []
    for step in steps:
        try:
            result = run_step(step, check_only)
        except (HostctlError, OSError) as exc:
            message = exc.message if isinstance(exc, HostctlError) else str(exc)
            report(StepResult(step.name, "failed", message))
            hint = exc.hint if isinstance(exc, HostctlError) else None
            raise HostctlError(
                f"setup step {step.name!r} failed: {message}",
                hint or "fix that, then run `hostctl setup` again: it resumes at this step",
            ) from exc
        report(result)
        results.append(result)
    return results


def run_step(step: Step, check_only: bool) -> StepResult:
    reason = step.skip() if step.skip else None
    if reason:
        return StepResult(step.name, "skipped", reason)
    if step.check():
        return StepResult(step.name, "ok")
    if check_only:
        return StepResult(step.name, "missing", step.goal)
    step.apply()
    if not (step.verify or step.check)():
        raise HostctlError(f"applied, but the check still fails (wanted: {step.goal})")
    return StepResult(step.name, "applied")
