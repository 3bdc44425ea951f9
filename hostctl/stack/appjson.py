"""app.json as Dokku reads it: health checks (``healthchecks.web``), deploy scripts
(``scripts.dokku.predeploy`` / ``postdeploy``), ``cron``, ``env`` defaults and
``formation``. Keys hostctl does not act on are returned as warnings.

app.json is untrusted input like hostctl.yml: every shape and number is checked, and an
error names the key path."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hostctl.core.errors import HostctlError
from hostctl.core.names import check_env_key
from hostctl.core.yaml_sections import Limits, Section
from hostctl.stack.app_config import HEALTH_SECONDS, HealthCheck

# The documented ranges (docs/apps.md); attempts * (timeout + wait) ≤ HEALTH_SECONDS too.
ATTEMPTS = Limits("a number of attempts", 1, 100)
CHECK_SECONDS = Limits("a number of seconds", 0, 600)


def load_json(text: str, source: str) -> object:
    """Parsed JSON, or an error naming ``source``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HostctlError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})",
            f"fix {source} and deploy again",
        ) from exc
    except RecursionError:
        raise HostctlError(
            f"{source}: nested too deeply", f"flatten {source} and deploy again"
        ) from None


# Keys that describe the app (the Heroku Button's) and change nothing about how it runs.
METADATA = ("name", "description", "keywords", "website", "repository", "logo", "success_url")
CRON_JOBS = 100
QUANTITY = 100  # containers of one process type


@dataclass(frozen=True)
class CronJob:
    schedule: str  # a standard 5-field cron expression, or @hourly, @daily…
    command: str


@dataclass(frozen=True)
class EnvDefault:
    value: str | None = None  # set when the app has no value for the key
    required: bool = False  # no value and none set: the deploy is refused
    secret: bool = False  # generator: secret — a random value, made once and kept


@dataclass(frozen=True)
class AppJson:
    health: HealthCheck | None = None
    predeploy: str | None = None
    postdeploy: str | None = None
    cron: list[CronJob] = field(default_factory=list)
    env: dict[str, EnvDefault] = field(default_factory=dict)
    formation: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_app_json(text: str) -> AppJson:
    top = Section("app.json", load_json(text, "app.json"))
    warnings: list[str] = []
    known = (*METADATA, "healthchecks", "scripts", "cron", "env", "formation")
    for key in top.data:
        if key not in known:
            warnings.append(f"app.json: {key}: not supported by hostctl, ignored")
    checks = top.section("healthchecks")
    for process in checks.data if checks else ():
        if process != "web":
            warnings.append(f"app.json: healthchecks/{process}: only web is checked, ignored")
    predeploy, postdeploy = scripts(top, warnings)
    return AppJson(
        health=health_of(top),
        predeploy=predeploy,
        postdeploy=postdeploy,
        cron=cron_jobs(top, warnings),
        env=env_defaults(top, warnings),
        formation=formation_of(top, warnings),
        warnings=warnings,
    )


def scripts(top: Section, warnings: list[str]) -> tuple[str | None, str | None]:
    found = top.section("scripts")
    if found is None:
        return None, None
    for key in found.data:
        if key != "dokku":  # e.g. Heroku's postdeploy and pr-predestroy
            warnings.append(f"app.json: scripts/{key}: not supported by hostctl, ignored")
    dokku = found.section("dokku")
    if dokku is None:
        return None, None
    for key in dokku.data:
        if key not in ("predeploy", "postdeploy"):
            warnings.append(f"app.json: scripts/dokku/{key}: not supported by hostctl, ignored")
    return dokku.string("predeploy") or None, dokku.string("postdeploy") or None


def cron_jobs(top: Section, warnings: list[str]) -> list[CronJob]:
    found = top.data.get("cron")
    if found is None:
        return []
    if not isinstance(found, list):
        top.fail("cron", "should be a list of {schedule, command}")
    if len(found) > CRON_JOBS:
        top.fail("cron", f"should have at most {CRON_JOBS} jobs")
    jobs = []
    for index, item in enumerate(found):
        job = Section("app.json", item, f"cron/{index}")
        for key in job.data:
            if key not in ("schedule", "command"):
                warnings.append(f"app.json: {job.key_path(key)}: not supported by hostctl, ignored")
        schedule = (job.string("schedule") or "").strip()
        command = (job.string("command") or "").strip()
        if not command:
            job.fail(job.key_path("command"), "is missing")
        if not valid_schedule(schedule):
            job.fail(
                job.key_path("schedule"),
                f"{schedule!r} is not a cron schedule (5 fields, e.g. '*/10 * * * *', or @daily)",
            )
        jobs.append(CronJob(schedule=schedule, command=command))
    return jobs


def valid_schedule(schedule: str) -> bool:
    """Standard cron: five fields or an @ nickname (croniter also takes a seconds field)."""
    if not schedule.startswith("@") and len(schedule.split()) != 5:
        return False
    from croniter import croniter  # see hostctl/apps/cron.py

    return bool(croniter.is_valid(schedule))


def env_defaults(top: Section, warnings: list[str]) -> dict[str, EnvDefault]:
    found = top.section("env")
    if found is None:
        return {}
    defaults = {}
    for key, item in found.data.items():
        try:
            check_env_key(str(key))
        except HostctlError as exc:
            found.fail(found.key_path(str(key)), exc.message)
        if isinstance(item, str):  # Heroku's short form: "KEY": "value"
            defaults[key] = EnvDefault(value=item)
            continue
        entry = Section("app.json", item, found.key_path(key))
        for name in entry.data:
            if name not in ("description", "value", "required", "generator"):
                warnings.append(
                    f"app.json: {entry.key_path(name)}: not supported by hostctl, ignored"
                )
        value = entry.data.get("value")
        if value is not None and not isinstance(value, str | int | float):
            entry.fail(entry.key_path("value"), "should be a string")
        required = entry.data.get("required", False)
        if not isinstance(required, bool):
            entry.fail(entry.key_path("required"), "should be true or false")
        generator = entry.string("generator")
        if generator not in (None, "secret"):
            entry.fail(entry.key_path("generator"), 'should be "secret" (the only generator)')
        defaults[key] = EnvDefault(
            value=None if value is None else str(value),
            required=required,
            secret=generator == "secret",
        )
    return defaults


def formation_of(top: Section, warnings: list[str]) -> dict[str, int]:
    found = top.section("formation")
    if found is None:
        return {}
    counts = {}
    for process in found.data:
        entry = Section("app.json", found.data[process], found.key_path(str(process)))
        for name in entry.data:
            if name != "quantity":  # e.g. Heroku's size, Dokku's autoscaling keys
                warnings.append(
                    f"app.json: {entry.key_path(name)}: not supported by hostctl, ignored"
                )
        quantity = entry.integer("quantity", 1, 0, QUANTITY, "a number of containers")
        assert quantity is not None
        counts[str(process)] = quantity
    return counts


def health_from_app_json(text: str) -> HealthCheck | None:
    return parse_app_json(text).health


def health_of(top: Section) -> HealthCheck | None:
    checks = top.section("healthchecks")
    web = checks.data.get("web") if checks else None
    if not web:
        return None
    if not isinstance(web, list):
        top.fail("healthchecks/web", "should be a list of checks")
    startup = []
    for index, found in enumerate(web):
        check = Section("app.json", found, f"healthchecks/web/{index}")
        if check.data.get("type", "startup") == "startup":
            startup.append(check)
    if not startup:
        return None
    check = startup[0]
    path = check.string("path") or "/"
    if not path.startswith("/"):
        check.fail(check.key_path("path"), "should start with /")
    attempts = check.number("attempts", 5, ATTEMPTS) or 0.0
    timeout = check.number("timeout", 5, CHECK_SECONDS) or 0.0
    wait = check.number("wait", 5, CHECK_SECONDS) or 0.0
    total = attempts * (timeout + wait)
    if total > HEALTH_SECONDS.maximum:
        check.fail(
            check.path,
            f"attempts * (timeout + wait) is {total:g}s; it should be at most "
            f"{HEALTH_SECONDS.maximum:g}s",
        )
    content = check.data.get("content")
    if content is not None and not isinstance(content, str | int | float):
        check.fail(check.key_path("content"), "should be a string")
    return HealthCheck(
        path=path, timeout=max(total, 5.0), content=str(content) if content else None
    )
