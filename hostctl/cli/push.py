"""git push over SSH: `hostctl keys` manages who may push; `git-shell` and `git-hook`
are run by sshd and git, not by people. Every push starts git-shell: it imports only
what it needs (not rich, not Host)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hostctl.core.errors import HostctlError


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def keys(ctx: click.Context, as_json: bool) -> None:
    """List the SSH keys that may `git push` to apps, or manage them."""
    if ctx.invoked_subcommand is not None:
        return
    from hostctl.cli.render import print_json, table
    from hostctl.host import Host
    from hostctl.push.shell import USAGE
    from hostctl.push.user import PUSH_USER, keys_file_for
    from hostctl.state.key_scopes import key_apps
    from hostctl.state.keys import push_keys

    host = Host()
    found = [(k, key_apps(host.store, k.fingerprint)) for k in push_keys(host.store)]
    if as_json:
        print_json([k.to_json() | {"apps": apps or None} for k, apps in found])
    elif not found:
        click.echo("No push keys yet. Add one with `hostctl keys add ~/.ssh/id_ed25519.pub`.")
    else:
        table(
            ["NAME", "FINGERPRINT", "ADDED", "MAY PUSH TO AND FETCH"],
            [(k.name, k.fingerprint, k.added_at[:19], may_reach(apps)) for k, apps in found],
        )
        push_user_file = keys_file_for(host.settings)
        if push_user_file:
            click.echo(f"sshd reads them for the user {PUSH_USER} from {push_user_file}")
        else:
            root_file = host.settings.paths.authorized_keys
            click.echo(
                f"sshd reads them from {root_file} (as root); `hostctl setup` adds "
                f"the push user {PUSH_USER}"
            )
        click.echo(f"Push with: {USAGE}")


def may_reach(apps: list[str]) -> str:
    """What a key may do, in words (pushing deploys, and runs the release command)."""
    return ", ".join(apps) if apps else "every app"


@keys.command("add")
@click.argument("key")
@click.option("--name", help="A name for the key (default: its comment).")
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="Limit the key to this app (repeatable): it can push to and fetch only these"
    " apps. Default: every app.",
)
def add(key: str, name: str | None, apps: tuple[str, ...]) -> None:
    """Allow KEY to push: a public key line, a .pub file, or - for stdin.

    A push deploys, so it runs the app's release command: limit a key that should
    deploy only some apps with --app.
    """
    from hostctl.host import Host
    from hostctl.push.keys import add_key
    from hostctl.state.key_scopes import key_apps

    text = sys.stdin.read() if key == "-" else key
    if key != "-" and Path(key).expanduser().is_file():
        text = Path(key).expanduser().read_text()
    host = Host()
    added = add_key(host.settings, host.store, text, name, list(apps))
    reach = may_reach(key_apps(host.store, added.fingerprint))
    click.echo(f"Added push key {added.name} ({added.fingerprint}); it may push to {reach}")


@keys.command("remove")
@click.argument("key")
def remove(key: str) -> None:
    """Stop KEY (a name or SHA256 fingerprint) from pushing."""
    from hostctl.host import Host
    from hostctl.push.keys import remove_key

    host = Host()
    removed = remove_key(host.settings, host.store, key)
    click.echo(f"Removed push key {removed.name} ({removed.fingerprint})")


@click.command("git-shell", hidden=True)
@click.option("--key", "key_name", required=True, help="The push key's name (set by hostctl).")
def git_shell(key_name: str) -> None:
    """The forced command of push keys: runs git-receive-pack/git-upload-pack only."""
    # Settings and the store only: Host's imports (Caddy's adapter, the firewall) are
    # paid by every push and the forced command needs none of them.
    from hostctl.push.keys import check_key_name
    from hostctl.push.shell import git_command
    from hostctl.settings import Settings
    from hostctl.state import Store

    check_key_name(key_name)  # it arrives through sudo, and becomes the release's trigger
    settings = Settings.from_env()
    store = Store(settings.paths.database)
    argv = git_command(settings, store, os.environ.get("SSH_ORIGINAL_COMMAND"), key_name)
    store.close()
    os.environ["HOSTCTL_PUSHER"] = key_name
    os.execvp(argv[0], argv)  # noqa: S606 (argv is fixed: a git command and a path)


@click.command("git-hook", hidden=True)
@click.argument("hook", type=click.Choice(["pre-receive"]))
def git_hook(hook: str) -> None:
    """Run by git in a push repository: deploys the pushed commit of the app's branch."""
    from hostctl.cli.context import queue_host
    from hostctl.cli.render import TerminalReporter
    from hostctl.push.hook import parse_updates, pre_receive

    repo = Path(os.environ.get("GIT_DIR", ".")).resolve()
    pusher = os.environ.get("HOSTCTL_PUSHER", "ssh")
    updates = parse_updates(sys.stdin)
    host = queue_host()
    done = pre_receive(host, repo, updates, pusher, TerminalReporter())
    if done is None:
        return
    if done.status != "done":
        from hostctl.deploy.rules import serving_before  # loads the Docker SDK: only here

        raise HostctlError(
            f"the deploy failed, so the push is refused: {done.error or done.status}",
            f"{serving_before(host.store.app(done.app).current_release)}; fix it and push again",
        )
    click.echo(f"-----> {repo.name.removesuffix('.git')} release {done.release} is live")
