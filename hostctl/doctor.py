"""`hostctl doctor` and `hostctl status`: every layer of the box, looked at read-only.

A check is data: a name and a function returning an ``Outcome`` (ok, warn or fail, what
was found, and for a problem what to do). Checks only look: they work on the plain
``Host`` (no reconcile, which would repair what they are meant to report), make only GET
requests to Cloudflare, GitHub, Caddy and the agent, and change no file, container or
record. What is not set up (Tailscale not installed, GitHub not connected) is a warning;
what is set up and broken is a failure.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, Literal

from hostctl.adapters.firewall import box_firewall_state
from hostctl.adapters.http_probe import Answer, ProbeError, health_probe
from hostctl.adapters.system import (
    listening_sockets,
    port_listeners,
    systemd_running,
    unit_active,
    unit_enabled,
)
from hostctl.adapters.tailscale import tailscale_status
from hostctl.backup.config import backup_config
from hostctl.cloudflare.connect import connector_name
from hostctl.cloudflare.connect import status as cloudflare_status
from hostctl.cloudflare.sync import (
    BRIEF,
    api_for,
    edge_service,
    is_ours,
    not_publishable,
    owned_rules,
)
from hostctl.cloudflare.sync import wanted_hostnames as cloudflare_hostnames
from hostctl.core import labels
from hostctl.core.errors import HostctlError
from hostctl.core.paths import CADDY_UNIT, SYSTEMD_UNITS
from hostctl.credentials.cloudflare import Connection, load_connection, load_state
from hostctl.deploy.rules import own_cache
from hostctl.github.connection import github_status
from hostctl.host import Host
from hostctl.push.user import (
    KEYS_HEADER_START,
    PUSH_USER,
    account,
    keys_file_for,
    keys_header,
    read_keys_file,
)
from hostctl.queue import agent_running
from hostctl.server_config import TAILNET, agent_address
from hostctl.setup.box import stored_push_keys
from hostctl.setup.push_user import push_user_steps
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import App
from hostctl.state.backups import backups, latest_drills
from hostctl.state.queue import active_job_counts

Status = Literal["ok", "warn", "fail"]
AGENT_UNIT = "hostctl-agent.service"
PROBE_SECONDS = 5.0
SSH_PORT = 22
KEY_EXPIRY_WARNING = timedelta(days=14)
# Free space below these is a warning, then a failure (either share or bytes).
DISK_WARN = (0.10, 5 * 1024**3)
DISK_FAIL = (0.05, 1 * 1024**3)


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    hint: str | None = None


def ok(detail: str) -> Outcome:
    return Outcome("ok", detail)


def warn(detail: str, hint: str) -> Outcome:
    return Outcome("warn", detail, hint)


def fail(detail: str, hint: str) -> Outcome:
    return Outcome("fail", detail, hint)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Outcome]


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    hint: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    results: list[Result]

    @property
    def ok(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [r.to_json() for r in self.results]}


def run_check(check: Check) -> Result:
    """One check; an error it raises is its failure, never the end of the report."""
    try:
        outcome = check.run()
    except HostctlError as exc:
        outcome = fail(exc.message, exc.hint or "see the message")
    except Exception as exc:  # a bug in one check must not hide the others' lines
        outcome = fail(
            f"the check itself failed: {type(exc).__name__}: {exc}",
            "run `hostctl --debug doctor` and report it",
        )
    return Result(check.name, outcome.status, outcome.detail, outcome.hint)


def doctor(host: Host, app: str | None = None) -> Report:
    """Every check (only APP's among the apps' checks when given), in order."""
    return Report([run_check(check) for check in checks(host, app)])


def checks(host: Host, only: str | None = None) -> list[Check]:
    apps = [host.store.app(only)] if only else host.store.apps()
    probe = probes()
    found = [
        Check("agent", lambda: agent_outcome(agent_view(host))),
        Check("agent service", agent_service_outcome),
        Check("docker", lambda: docker_outcome(host)),
        Check("edge", lambda: edge_outcome(host)),
        Check("edge service", edge_service_outcome),
        Check("disk", lambda: disk_outcome(host)),
        Check("push user", lambda: push_user_outcome(host)),
        Check("tailscale", tailscale_outcome),
        *cloudflare_checks(host, apps if only else None),
        Check("github", lambda: github_outcome(host)),
        Check("firewall", lambda: firewall_outcome(host)),
    ]
    for app in apps:
        found.append(Check(f"app {app.name}", partial(app_check, host, app, probe)))
        found.append(Check(f"backups {app.name}", partial(backups_outcome, host, app)))
    return found


def app_check(host: Host, app: App, probe: Callable[[str], Answer]) -> Outcome:
    return app_outcome(app_view(host, app, probe))


def probes() -> Callable[[str], Answer]:
    """The health probe's GET, one deadline per request."""

    def get(url: str) -> Answer:
        with health_probe(PROBE_SECONDS) as probe:
            return probe(url)

    return get


# the agent


@dataclass(frozen=True)
class AgentView:
    address: str  # where hostctl.yml says it listens (agent/listen)
    lock_held: bool  # an agent runs for this state root
    answered: bool
    healthy: bool
    workers: int | None
    queued: int
    running: int
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def agent_view(host: Host) -> AgentView:
    ip, port = agent_address(host.settings.server.agent.listen[0])
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    counts = active_job_counts(host.store)
    report: dict[str, Any] = {}
    error = None
    try:
        answer = probes()(f"http://{address}/health")
        report = json.loads(answer.text)
        if not isinstance(report, dict):
            raise ValueError("not an object")
    except ProbeError as exc:
        error = f"no answer ({exc})"
    except ValueError:
        error = "something answered, but not with the agent's health report"
    return AgentView(
        address=address,
        lock_held=agent_running(host.settings),
        answered=error is None,
        healthy=bool(report.get("healthy")),
        workers=report.get("workers"),
        queued=counts.get("queued", 0),
        running=counts.get("running", 0),
        error=error,
    )


def agent_outcome(view: AgentView) -> Outcome:
    queue = f"{view.queued} queued, {view.running} running"
    start = (
        f"start it: `systemctl start {AGENT_UNIT}` (or `hostctl serve`); meanwhile webhooks "
        "are not received and deploys run only from the CLI"
    )
    if not view.answered and not view.lock_held:
        return fail(f"not running (nothing answers at {view.address}); {queue}", start)
    if not view.answered:
        return fail(
            f"runs, but does not answer at {view.address}: {view.error}",
            "is agent/listen in hostctl.yml where it listens (`--listen`)? Restart it",
        )
    if not view.healthy:
        return fail(
            f"answers at {view.address} but reports itself unhealthy (a thread died, or it "
            "is stopping)",
            f"restart it: `systemctl restart {AGENT_UNIT}`, and read its log",
        )
    if not view.lock_held:
        return fail(
            f"an agent answers at {view.address}, but none runs for this state root",
            "is it another installation's? Point agent/listen in hostctl.yml at this one",
        )
    return ok(f"healthy at {view.address}: {view.workers} workers, {queue}")


def agent_service_outcome() -> Outcome:
    if not systemd_running():
        return warn(
            "systemd is not running on this box: nothing restarts the agent after a crash "
            "or a reboot",
            "run `hostctl serve` under a supervisor",
        )
    if unit_active(AGENT_UNIT):
        return ok(f"{AGENT_UNIT} is active")
    return fail(
        f"{AGENT_UNIT} is not active",
        f"`systemctl enable --now {AGENT_UNIT}`; `journalctl -u {AGENT_UNIT}` says why it stopped",
    )


# the engine, the edge and the disk


def docker_outcome(host: Host) -> Outcome:
    engine = host.docker.engine()
    return ok(f"Docker {engine.version} answers; builds with {host.docker.builder().describe()}")


def edge_outcome(host: Host) -> Outcome:
    caddy = host.caddy
    port = host.settings.http_port
    if caddy.running():
        ours = caddy.process.pid()
        others = {pid: cmd for pid, cmd in port_listeners(port).items() if pid != ours}
        if ours is not None and others:
            named = "; ".join(f"pid {pid} ({cmd[:80]})" for pid, cmd in sorted(others.items()))
            return fail(
                f"edge port {port} is also listened on by {named}: the kernel shares its "
                "connections between them (SO_REUSEPORT), so some requests get that "
                "server's answers",
                "stop that process, or move one of them to another port (hostctl's is "
                "`http_port` in hostctl.yml)",
            )
        return ok(f"Caddy answers on {caddy.socket}; edge port {port}")
    return fail(
        f"Caddy does not answer on {caddy.socket}",
        f"any other hostctl command starts it again (commands reconcile first, e.g. "
        f"`hostctl apps`); "
        f"see {caddy.log_file}",
    )


def edge_service_outcome() -> Outcome:
    """Caddy under systemd as setup installs it; where systemd does not run (a container,
    a dev machine), hostctl starts Caddy itself and there is nothing to check."""
    if not systemd_running():
        return ok("systemd is not running here: hostctl starts Caddy itself")
    if not (SYSTEMD_UNITS / CADDY_UNIT).exists():
        return warn(
            f"{CADDY_UNIT} is not installed: after a reboot nothing serves until a hostctl "
            "command starts Caddy",
            "run `hostctl setup` as root: it makes Caddy a service",
        )
    why = f"`journalctl -u {CADDY_UNIT}` says why it stopped"
    if not unit_active(CADDY_UNIT):
        return fail(f"{CADDY_UNIT} is not active", f"`systemctl start {CADDY_UNIT}`; {why}")
    if unit_enabled(CADDY_UNIT) != "enabled":
        return fail(
            f"{CADDY_UNIT} is active but not enabled: a reboot would not start it",
            f"`systemctl enable {CADDY_UNIT}`",
        )
    return ok(f"{CADDY_UNIT} is active and enabled")


def disk_outcome(host: Host) -> Outcome:
    engine = host.docker.engine()
    places = {"state": existing(host.settings.root), "docker": existing(engine.root)}
    worst: Status = "ok"
    parts = []
    seen: dict[int, str] = {}
    for label, path in places.items():
        device = path.stat().st_dev
        if device in seen:
            parts.append(f"{label} {path}: on the same disk as {seen[device]}")
            continue
        seen[device] = label
        usage = shutil.disk_usage(path)
        share = usage.free / usage.total if usage.total else 0.0
        parts.append(
            f"{label} {path}: {size(usage.free)} free of {size(usage.total)} ({share:.0%})"
        )
        if share < DISK_FAIL[0] or usage.free < DISK_FAIL[1]:
            worst = "fail"
        elif worst == "ok" and (share < DISK_WARN[0] or usage.free < DISK_WARN[1]):
            worst = "warn"
    used = host.docker.disk_usage(host.labels())
    own = sum(record.size for record in own_cache(used.cache))
    parts.append(
        f"hostctl's images: {used.images}, {size(used.image_bytes)} "
        f"({size(used.unique_image_bytes)} their own); "
        f"the engine's build cache: {size(used.build_cache_bytes)} "
        f"({size(own)} of it hostctl's builds')"
    )
    detail = "; ".join(parts)
    hint = (
        "free space: `docker builder prune`, `docker image prune`, old backups "
        "(`hostctl backups APP`), or lower keep_releases in hostctl.yml"
    )
    return Outcome(worst, detail, None if worst == "ok" else hint)


def existing(path: Path) -> Path:
    """The path, or its nearest parent that exists (a fresh box has no state root yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


# access: the push user and Tailscale


def push_user_outcome(host: Host) -> Outcome:
    if account() is None:
        return warn(
            f"no user {PUSH_USER}: `git push` over SSH is not set up",
            "run `hostctl setup` (as root) to set it up",
        )
    settings = host.settings
    if keys_file_for(settings) is None and (found := read_keys_file(256)) is not None:
        first = found[1].split(b"\n", 1)[0].decode(errors="replace")
        if first.startswith(KEYS_HEADER_START) and first != keys_header(settings):
            return warn(  # a second instance (or a test) on a box set up for another root
                f"{PUSH_USER} serves another hostctl on this box ({first[2:]})",
                "run `hostctl setup` with this instance's settings to move it here",
            )
    for step in push_user_steps(settings, lambda: stored_push_keys(settings)):
        if not step.check():
            return fail(
                f"{step.name} is not as setup leaves it: {step.goal}",
                "run `hostctl setup` (`hostctl setup --check` lists each step)",
            )
    return ok(f"{PUSH_USER}: user, git-shell wrapper, sudoers rule and keys in place")


def tailscale_outcome() -> Outcome:
    found = tailscale_status()
    if found is None:
        return warn(
            "not installed: administration is not limited to a tailnet",
            "install Tailscale (https://tailscale.com/download) and `tailscale up --ssh`",
        )
    if found.backend_state != "Running":
        return fail(f"not up (state {found.backend_state or 'unknown'})", "`tailscale up --ssh`")
    if not found.online:
        return fail(
            "up, but not online: the coordination server does not see this box",
            "check its network; `tailscale netcheck`",
        )
    if not found.ssh:
        return fail(
            "up, but Tailscale SSH is off", "`tailscale set --ssh` (admin SSH over the tailnet)"
        )
    parts = [f"up as {', '.join(found.addresses) or '?'}, SSH on"]
    if found.key_expiry is None:
        return ok(", ".join([*parts, "key expiry disabled"]))
    left = found.key_expiry - datetime.now(UTC)
    renew = "re-authenticate (`tailscale up --force-reauth`), or disable key expiry for "
    renew += "this machine in the admin console"
    if left <= timedelta(0):
        return fail(f"the node key expired {found.key_expiry:%Y-%m-%d}", renew)
    parts.append(f"key expires {found.key_expiry:%Y-%m-%d}")
    if left < KEY_EXPIRY_WARNING:
        return warn(f"{', '.join(parts)}, in {left.days} days", renew)
    return ok(", ".join(parts))


# Cloudflare and GitHub


def cloudflare_checks(host: Host, apps: list[App] | None) -> list[Check]:
    """The tunnel, its connector, and each hostname's CNAME and ingress rule (the
    hostnames of ``apps``; default: every hostname hostctl publishes)."""
    connection = load_connection(host.settings)
    if connection is None:
        return [
            Check(
                "cloudflare",
                lambda: warn(
                    "not connected: apps are served only where their hostnames already point",
                    "`hostctl cloudflare connect --token TOKEN --domain DOMAIN`",
                ),
            )
        ]
    published = cache(lambda: cloudflare_published(connection))
    hostnames = (
        sorted({h for app in apps for h in app.hostnames})
        if apps is not None
        else cloudflare_hostnames(host)
    )
    forced = load_state(host.settings).forced
    return [
        Check("cloudflare tunnel", lambda: tunnel_outcome(host)),
        Check("cloudflared", lambda: connector_outcome(host, connection)),
        *(
            Check(
                f"cloudflare {hostname}",
                partial(
                    hostname_outcome, host, connection, hostname, hostname in forced, published
                ),
            )
            for hostname in hostnames
        ),
    ]


def tunnel_outcome(host: Host) -> Outcome:
    found = cloudflare_status(host)
    state = found.tunnel_status or "unknown"
    name = found.tunnel_name
    if state == "healthy":
        return ok(f"tunnel {name} healthy")
    if state == "degraded":
        return warn(
            f"tunnel {name} degraded (some connections to Cloudflare are down)",
            f"see `docker logs {connector_name(host)}`",
        )
    if state.startswith("unknown"):
        return fail(f"tunnel {name}: {state}", "see `hostctl cloudflare status`")
    if state.startswith("deleted"):
        return fail(
            f"tunnel {name} was deleted on Cloudflare",
            "`hostctl cloudflare connect --token TOKEN --domain DOMAIN` makes a new one",
        )
    return fail(
        f"tunnel {name} is {state}: no cloudflared is connected to it",
        f"is cloudflared running? See the cloudflared line and `docker logs "
        f"{connector_name(host)}`",
    )


def connector_outcome(host: Host, connection: Connection) -> Outcome:
    name = connector_name(host)
    found = host.docker.state(name, host.network)
    start = "`hostctl cloudflare connect --token TOKEN --domain DOMAIN` starts it"
    if found is None:
        return fail(f"no cloudflared container ({name})", start)
    if found.labels.get(labels.TUNNEL) != connection.tunnel_id:
        return fail(f"{name} runs for another tunnel than {connection.tunnel_name}", start)
    restarts = f", restarted {found.restart_count} times" if found.restart_count else ""
    if found.status != "running":
        return fail(
            f"{name} is {found.status} (exit code {found.exit_code}{restarts})",
            f"see `docker logs {name}`",
        )
    return ok(f"{name} running{restarts}")


def cloudflare_published(connection: Connection) -> tuple[list[Any], list[dict[str, Any]]]:
    """The zone's DNS records and the tunnel's ingress rules, read once."""
    api = api_for(connection, BRIEF)
    records = api.records(connection.zone_id)
    config = api.tunnel_config(connection.account_id, connection.tunnel_id)
    return records, [r for r in config.get("ingress") or [] if isinstance(r, dict)]


def hostname_outcome(
    host: Host,
    connection: Connection,
    hostname: str,
    forced: bool,
    published: Callable[[], tuple[list[Any], list[dict[str, Any]]]],
) -> Outcome:
    why = not_publishable(hostname, connection.zone, forced)
    if why:
        return ok(f"not published on Cloudflare: {why}")
    records, rules = published()
    service = edge_service(host)
    problems = []
    named = [r for r in records if r.name == hostname]
    if not any(is_ours(r, connection) and r.type == "CNAME" and r.proxied for r in named):
        foreign = [r.describe() for r in named if not is_ours(r, connection)]
        problems.append(
            f"{foreign[0]} was not made by hostctl"
            if foreign
            else f"no DNS CNAME → {connection.target}"
        )
    rule = next((r for r in rules if r.get("hostname") == hostname), None)
    if rule is None:
        problems.append("no ingress rule")
    elif rule.get("service") != service:
        problems.append(f"its ingress rule sends it to {rule.get('service')}, not to {service}")
    if not problems:
        return ok(f"CNAME → {connection.target}, ingress → {service}")
    if any(not is_ours(r, connection) for r in named):
        hint = (
            "a record hostctl did not make holds the name: remove it in the dashboard "
            "(or `hostctl domains add APP HOSTNAME --force`), then `hostctl cloudflare sync`"
        )
    elif rule is not None and hostname not in owned_rules(rules, records, connection):
        # Sync owns a rule only while the hostname has hostctl's record; it leaves this one.
        hint = (
            f"remove the tunnel's ingress rule for {hostname} in the Cloudflare dashboard, "
            "then `hostctl cloudflare sync` puts hostctl's record and rule back"
        )
    else:
        hint = "`hostctl cloudflare sync` puts hostctl's record and rule back"
    return fail("; ".join(problems), hint)


def github_outcome(host: Host) -> Outcome:
    found = github_status(host.settings)
    if not found.connected:
        return warn(
            "not connected: apps cannot be linked to GitHub repositories",
            "`hostctl github connect --token TOKEN`",
        )
    if found.mode == "app":  # its status checked the App's JWT with GET /app
        if found.error:
            return fail(
                f"GitHub refuses the GitHub App {found.app}: {found.error}",
                "`hostctl github status`; if the App was deleted on GitHub: "
                "`hostctl github disconnect`, then `hostctl github connect --app`",
            )
        count = len(found.installations)
        return ok(
            f"GitHub App {found.app} (id {found.app_id}), {count} installation"
            f"{'' if count == 1 else 's'} ({found.api_url})"
        )
    if found.error:
        return fail(
            f"GitHub refuses the saved token ({found.token}): {found.error}",
            "make a new token and `hostctl github connect --token TOKEN`",
        )
    return ok(f"token {found.token} valid, as {found.login} ({found.api_url})")


# the firewall


def firewall_outcome(host: Host) -> Outcome:
    """Listening sockets reachable from outside the box and the tailnet. The edge port is
    allowed: cloudflared reaches Caddy through Docker's bridge, and the firewall drops it
    from outside."""
    return firewall_verdict(listening_sockets(), host.settings.http_port, box_firewall_state())


def firewall_verdict(
    sockets: list[tuple[IPv4Address | IPv6Address, int]], edge: int, box: str | None = None
) -> Outcome:
    """``box``: the state of the firewall `hostctl setup --firewall` makes, if any."""
    public = sorted({port for address, port in sockets if is_public(address)})
    if box == "closed":  # its firewall drops public SSH
        public = [port for port in public if port != SSH_PORT]
    others = [port for port in public if port not in (edge, SSH_PORT)]
    if others:
        return fail(
            f"listening on public addresses: port {', '.join(map(str, others))}",
            "bind them to loopback or the tailnet, or stop them; an app's published "
            "Docker port bypasses the firewall (hostctl never publishes one)",
        )
    if SSH_PORT in public and box == "ssh-open":
        return warn(
            "public SSH still open (SSH over Tailscale not verified)",
            "log in over the tailnet (ssh root@BOX-TAILNET-NAME) and run `hostctl setup` "
            "again from there: it closes public SSH once that login is seen",
        )
    if SSH_PORT in public:
        return warn(
            "SSH (22) still listens on public addresses",
            "once SSH over Tailscale works, close public SSH (`hostctl setup` does, after "
            "checking Tailscale SSH)",
        )
    return ok(f"nothing listens publicly but the edge (port {edge})")


def is_public(address: IPv4Address | IPv6Address) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    local = address.is_loopback or address.is_link_local
    return not local and not any(address in net for net in TAILNET)


# apps and their backups


@dataclass(frozen=True)
class AppView:
    name: str
    release: int | None  # the release serving
    container: str | None  # its web container
    container_status: str  # running, exited, ...; gone; none (never deployed)
    restarts: int
    last_deploy: dict[str, Any] | None  # the newest release: number, status, finished_at, error
    health: str  # what the health check saw
    healthy: bool | None  # None: not checked (nothing runs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def app_view(host: Host, app: App, probe: Callable[[str], Answer]) -> AppView:
    releases = host.store.releases(app.name)
    last = releases[0] if releases else None
    web = (
        host.docker.state(app.web_container, host.app_network(app.name))
        if app.web_container
        else None
    )
    current = next((r for r in releases if r.number == app.current_release), None)
    health, healthy = "not checked", None
    if current and current.spec and web and web.status == "running" and web.ip:
        spec = RuntimeSpec.from_json(current.spec)
        check, port = spec.health, spec.port
        try:
            answer = probe(f"http://{web.ip}:{port}{check.path}")
            healthy = answer.status < 500 and (not check.content or check.content in answer.text)
            health = f"{check.path} answered {answer.status}"
            if answer.status < 500 and not healthy:
                health += f" without {check.content!r}"
        except ProbeError as exc:
            health, healthy = f"{check.path}: no answer on port {port} ({exc})", False
    return AppView(
        name=app.name,
        release=app.current_release,
        container=app.web_container,
        container_status=web.status if web else ("gone" if app.web_container else "none"),
        restarts=web.restart_count if web else 0,
        last_deploy=(
            {
                "release": last.number,
                "status": last.status,
                "finished_at": last.finished_at,
                "error": last.error,
            }
            if last
            else None
        ),
        health=health,
        healthy=healthy,
    )


def app_outcome(view: AppView) -> Outcome:
    name, last = view.name, view.last_deploy
    if last is None:
        return warn("not deployed yet", f"`hostctl deploy {name} SOURCE`")
    failed = f"release {last['release']} {last['status']}: {last['error'] or 'no error recorded'}"
    logs = f"`hostctl logs {name} --release {last['release']}`"
    if view.release is None:
        return fail(f"nothing serves it; the last deploy, {failed}", f"{logs}, fix, deploy again")
    if view.container_status == "none":  # no web process, or web scaled to 0
        return ok(f"release {view.release} live, with no web container to route to")
    if view.container_status == "gone":
        return fail(
            f"release {view.release} should serve it, but its web container "
            f"{view.container} is gone",
            f"any hostctl command that reconciles starts it again (e.g. `hostctl ps {name}`)",
        )
    if view.container_status != "running":
        return fail(
            f"its web container {view.container} is {view.container_status}",
            f"see `hostctl logs {name}`; `hostctl restart {name}` starts it again",
        )
    if not view.healthy:
        return fail(
            f"release {view.release} runs, but its health check failed: {view.health}",
            f"see `hostctl logs {name}`",
        )
    serving = f"release {view.release} live, web running, {view.health}"
    if last["release"] != view.release and last["status"] == "failed":
        return warn(f"{serving}; the last deploy failed: {failed}", logs)
    return ok(serving)


def backups_outcome(host: Host, app: App) -> Outcome:
    records = backups(host.store, app.name)
    if not records:
        if app.current_release is None:
            return ok("none yet (not deployed)")
        return warn("no backup yet", f"`hostctl backup {app.name}` makes one now")
    newest = records[0]
    age = datetime.now(UTC) - datetime.fromisoformat(newest.created_at)
    detail = f"newest {ago(age)} ({newest.id})"
    interval = backup_config(host.settings).interval
    if interval and age > timedelta(seconds=2 * interval):
        return fail(
            f"{detail}: the schedule (every {ago(timedelta(seconds=interval), '')}) should "
            "have made a newer one",
            "the agent makes scheduled backups: is it running? "
            f"`hostctl backup {app.name}` makes one now",
        )
    drills = sorted(latest_drills(host.store, app.name).values(), key=lambda d: d.at)
    verify = f"`hostctl backup verify {app.name}` restore-tests the newest"
    if not drills:
        return warn(f"{detail}; never restore-tested", verify)
    drill = drills[-1]
    when = ago(datetime.now(UTC) - datetime.fromisoformat(drill.at))
    if not drill.ok:
        return fail(f"{detail}; the last restore drill ({when}) failed: {drill.detail}", verify)
    return ok(f"{detail}; last restore drill passed {when}")


def ago(age: timedelta, suffix: str = " ago") -> str:
    seconds = max(age.total_seconds(), 0)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit}{suffix}"
    return f"{seconds:.0f} s{suffix}"


# status: the quick view


@dataclass(frozen=True)
class StatusView:
    agent: AgentView
    apps: list[AppView]

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent.to_json(), "apps": [a.to_json() for a in self.apps]}


def status(host: Host) -> StatusView:
    probe = probes()
    return StatusView(agent_view(host), [app_view(host, a, probe) for a in host.store.apps()])
