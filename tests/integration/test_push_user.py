"""`hostctl setup` on a fresh box (a container running sshd, see tests/harness/vps.py), then
`git push ssh://hostctl@BOX/APP` from the host through the box's real sshd and sudo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.env import NAMESPACE
from tests.harness.hostctl import commit, git, http_get, make_repo
from tests.harness.ssh import client_key, forwarded_banner, let_through
from tests.harness.vps import PYTHON, Vps, vps_image

pytestmark = pytest.mark.integration

WRAPPER = "/usr/local/libexec/hostctl-git-shell"
STEPS = [
    "packages sudo openssh-server",
    "user hostctl",
    f"git-shell {WRAPPER}",
    "sudoers /etc/sudoers.d/hostctl",
    "authorized_keys of hostctl",
]
FILES = [
    "/etc/sudoers.d/hostctl",
    "/usr/local/libexec",
    WRAPPER,
    "/home/hostctl",
    "/home/hostctl/.ssh",
    "/home/hostctl/.ssh/authorized_keys",
]
LAYOUT = [
    "440 root:root regular file",
    "755 root:root directory",
    "755 root:root regular file",
    "755 root:root directory",
    "755 root:root directory",
    "644 root:root regular file",
]
RULE = f"hostctl ALL=(root) NOPASSWD: {WRAPPER} *"


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    return vps_image()


@pytest.fixture
def vps(image: str) -> Iterator[Vps]:
    box = Vps.start(image, NAMESPACE)
    yield box
    box.remove()


def statuses(output: str) -> dict[str, str]:
    """{step: ok|applied|missing|failed} of the push user's steps, from `hostctl setup`'s
    one line per step. The steps before them (the system, the packages, the engine, the
    services) are done or skipped in this box: its engine is the host's, its Caddy the
    host's binary, and it has no systemd."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status not in ("ok", "applied", "missing", "skipped", "failed"):
            continue
        name = rest.strip().split("  (")[0]
        if name in STEPS:
            found[name] = status
        else:
            assert status in ("ok", "skipped"), line
    return found


def set_up_with_a_key(vps: Vps, key: Path) -> None:
    done = vps.hostctl("setup")
    assert done.returncode == 0, done.stdout + done.stderr
    added = vps.hostctl("keys", "add", "-", input=Path(f"{key}.pub").read_text())
    assert added.returncode == 0, added.stderr


def test_setup_makes_the_push_user_once_and_check_changes_nothing(vps: Vps):
    # a box without sudo: the package step installs it with apt
    vps.exec("dpkg", "--purge", "sudo", env={"SUDO_FORCE_REMOVE": "yes"})
    before = vps.hostctl("setup", "--check")
    assert before.returncode == 1
    assert statuses(before.stdout) == dict.fromkeys(STEPS, "missing")
    assert "Error: not done yet: " in before.stderr
    assert "packages sudo openssh-server, user hostctl" in before.stderr
    assert "Hint: run `hostctl setup` as root" in before.stderr
    assert vps.exec("test", "-e", "/var/lib/hostctl", check=False).returncode == 1
    assert vps.exec("getent", "passwd", "hostctl", check=False).returncode == 2

    first = vps.hostctl("setup")
    assert first.returncode == 0, first.stdout + first.stderr
    assert statuses(first.stdout) == dict.fromkeys(STEPS, "applied")
    assert "ssh://hostctl@HOST/APP" in first.stdout
    assert vps.exec("getent", "passwd", "hostctl").stdout.split(":")[5:] == [
        "/home/hostctl",
        "/bin/sh\n",
    ]
    assert vps.exec("getent", "shadow", "hostctl").stdout.split(":")[1] == "*"
    assert vps.exec("stat", "-c", "%a %U:%G %F", *FILES).stdout.splitlines() == LAYOUT
    assert vps.exec("ls", "-A", "/home/hostctl").stdout.split() == [".ssh"], "no skeleton"
    assert vps.exec("visudo", "-c").returncode == 0
    assert vps.exec("ls", "-A", "/etc/sudoers.d").stdout.split() == ["README", "hostctl"]
    sudoers = vps.read("/etc/sudoers.d/hostctl")
    assert sudoers.endswith(f"{RULE}\n"), sudoers
    assert 'Defaults:hostctl env_keep += "SSH_ORIGINAL_COMMAND"' in sudoers
    wrapper = vps.read(WRAPPER)
    assert wrapper.startswith("#!/bin/sh\n") and "cd / || exit 1\n" in wrapper
    assert wrapper.endswith(
        f"exec /usr/bin/env HOSTCTL_NAMESPACE={vps.namespace} HOSTCTL_HTTP_PORT={vps.http_port}"
        f' {PYTHON} -P -m hostctl git-shell "--key=$1"\n'
    ), wrapper
    assert vps.read("/home/hostctl/.ssh/authorized_keys") == (
        "# Written by hostctl for /var/lib/hostctl (`hostctl keys`); edits here are lost.\n"
    )

    snapshot = vps.exec("stat", "-c", "%i %Y %a %U", *FILES).stdout
    again = vps.hostctl("setup")
    assert again.returncode == 0 and statuses(again.stdout) == dict.fromkeys(STEPS, "ok")
    assert vps.exec("stat", "-c", "%i %Y %a %U", *FILES).stdout == snapshot, "nothing rewritten"
    checked = vps.hostctl("setup", "--check")
    assert checked.returncode == 0 and statuses(checked.stdout) == dict.fromkeys(STEPS, "ok")

    # "!" (a locked password, as useradd leaves it) would lock the push user out of sshd
    vps.exec("usermod", "--password", "!", "hostctl")
    repaired = vps.hostctl("setup")
    assert statuses(repaired.stdout)["user hostctl"] == "applied"
    assert vps.exec("getent", "shadow", "hostctl").stdout.split(":")[1] == "*"

    # a home an earlier setup left the user's (with useradd's skeleton), then none at all
    vps.exec("cp", "-a", "/etc/skel/.", "/home/hostctl/")
    vps.exec("chown", "-R", "hostctl:hostctl", "/home/hostctl")
    vps.exec("chmod", "0700", "/home/hostctl/.ssh")
    vps.exec("chmod", "0666", "/home/hostctl/.profile")
    checked = vps.hostctl("setup", "--check")
    assert checked.returncode == 1
    assert statuses(checked.stdout)["user hostctl"] == "missing"
    assert statuses(checked.stdout)["authorized_keys of hostctl"] == "missing"
    taken_over = vps.hostctl("setup")
    assert taken_over.returncode == 0, taken_over.stdout + taken_over.stderr
    assert statuses(taken_over.stdout)["user hostctl"] == "applied"
    assert statuses(taken_over.stdout)["authorized_keys of hostctl"] == "applied"
    assert vps.exec("stat", "-c", "%a %U:%G %F", *FILES).stdout.splitlines() == LAYOUT
    owners = vps.exec("find", "/home/hostctl", "-printf", "%u:%g %m %P\n").stdout
    assert {line.split()[0] for line in owners.splitlines()} == {"root:root"}, owners
    assert "644 .profile" in owners
    vps.exec("rm", "-rf", "/home/hostctl")
    remade = vps.hostctl("setup")
    assert remade.returncode == 0, remade.stdout + remade.stderr
    assert statuses(remade.stdout) == dict.fromkeys(STEPS, "ok") | {
        "user hostctl": "applied",
        "authorized_keys of hostctl": "applied",
    }
    assert vps.exec("stat", "-c", "%a %U:%G %F", *FILES).stdout.splitlines() == LAYOUT

    # a wrapper changed by hand, or written for other settings, is written again
    vps.exec("sh", "-c", f"echo 'exec sh' >> {WRAPPER}")
    rewritten = vps.hostctl("setup")
    assert statuses(rewritten.stdout)[f"git-shell {WRAPPER}"] == "applied"
    assert vps.read(WRAPPER) == wrapper

    vps.exec("chmod", "0755", "/root")  # so that another user can start the interpreter
    not_root = vps.exec(PYTHON, "-m", "hostctl", "setup", user="nobody", check=False)
    assert not_root.returncode == 1 and not_root.stdout == ""
    assert not_root.stderr.startswith("Error: hostctl setup must run as root")
    assert "Traceback" not in not_root.stderr


def test_git_push_to_the_push_user_deploys(vps: Vps, tmp_path: Path, app_name: str):
    pusher = client_key(tmp_path)
    set_up_with_a_key(vps, pusher)
    line = vps.read("/home/hostctl/.ssh/authorized_keys").splitlines()[-1]
    assert line.startswith(f'command="sudo -n {WRAPPER} pusher@laptop",restrict ssh-ed25519 ')
    listing = vps.hostctl("keys").stdout
    assert "for the user hostctl from /home/hostctl/.ssh/authorized_keys" in listing
    assert "git remote add hostctl ssh://hostctl@HOST/APP" in listing

    hostname = f"{app_name}.vps.test"
    assert vps.hostctl("apps", "create", app_name, "--domain", hostname).returncode == 0
    repo = make_repo(tmp_path / "repo", "python")
    git(repo, "remote", "add", "box", vps.remote(app_name))
    done = vps.push(repo, pusher, "box", "main")
    assert done.returncode == 0, done.stderr + vps.log()
    assert f"remote: -----> {app_name} release 1 is live" in done.stderr
    assert http_get(vps.http_port, hostname) == (200, "python v1\n")
    releases = json.loads(vps.hostctl("releases", app_name, "--json").stdout)
    assert releases[0]["trigger"] == "push:pusher@laptop"

    good = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Procfile": "web: exit 3\n"})
    refused = vps.push(repo, pusher, "box", "main")
    assert refused.returncode != 0
    assert "the deploy failed, so the push is refused" in refused.stderr
    assert http_get(vps.http_port, hostname) == (200, "python v1\n")
    pushed = vps.exec("git", "-C", f"/var/lib/hostctl/git/{app_name}.git", "rev-parse", "main")
    assert pushed.stdout.strip() == good, "the branch did not move"

    stranger = vps.push(repo, client_key(tmp_path, "stranger"), "box", "main")
    assert stranger.returncode != 0 and "Permission denied (publickey)" in stranger.stderr
    assert vps.hostctl("apps", "destroy", app_name, "--yes").returncode == 0


def test_the_push_user_gets_git_and_nothing_else(vps: Vps, tmp_path: Path, app_name: str):
    pusher = client_key(tmp_path)
    set_up_with_a_key(vps, pusher)
    assert vps.hostctl("apps", "create", app_name).returncode == 0
    refused = {
        "a shell": vps.ssh(pusher),
        "a command": vps.ssh(pusher, "sh", "-c", "id"),
        "sudo": vps.ssh(pusher, "sudo", "-l"),
        "sudo a shell": vps.ssh(pusher, "sudo", "-n", "sh"),
        "a path outside the repos": vps.ssh(pusher, "git-receive-pack '../../etc'"),
    }
    assert let_through(refused) == {}
    assert "only takes git pushes" in refused["a shell"].stderr
    assert "sh is not allowed here" in refused["a command"].stderr
    assert "sudo is not allowed here" in refused["sudo"].stderr
    assert forwarded_banner(pusher, vps.ssh_port, "hostctl@127.0.0.1") == b"", "no forwarding"
    allowed = vps.ssh(pusher, f"git-upload-pack '{app_name}'")
    assert allowed.stdout == "0000", "git-upload-pack ran as root: an empty repository's refs"

    # the user's own sudo: the wrapper, as its keys run it, and nothing else
    assert (
        "a password is required"
        in vps.exec("sudo", "-n", "true", user="hostctl", check=False).stderr
    )
    listed = vps.exec("sudo", "-n", "-l", user="hostctl").stdout
    commands = listed.split("may run the following commands on")[1].splitlines()[1:]
    assert [c for c in commands if c.strip()] == [f"    (root) NOPASSWD: {WRAPPER} *"]
    assert vps.exec("sudo", "-n", WRAPPER, "pusher@laptop", user="hostctl", check=False).stderr == (
        "Error: this account only takes git pushes, not a shell\n"
        "Hint: git remote add hostctl ssh://hostctl@HOST/APP && git push hostctl main\n"
    ), "the wrapper runs hostctl's git-shell as root"
    assert_nothing_runs_as_root(vps)

    assert vps.hostctl("keys", "remove", "pusher@laptop").returncode == 0
    assert "pusher@laptop" not in vps.read("/home/hostctl/.ssh/authorized_keys")
    denied = vps.ssh(pusher, f"git-upload-pack '{app_name}'")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr
    assert vps.hostctl("apps", "destroy", app_name, "--yes").returncode == 0


PWNED = "/root/pwned"  # only root can write there


def assert_nothing_runs_as_root(vps: Vps) -> None:
    """What the hostctl user might try with its sudo rule, or plant for root to import."""
    as_user = {"user": "hostctl", "check": False}
    settings = f"HOSTCTL_NAMESPACE={vps.namespace} HOSTCTL_HTTP_PORT={vps.http_port}"
    packed = vps.exec(
        *("sudo", "-n", "/usr/bin/env", f"{settings} {PYTHON} -P -m hostctl git-shell --key"),
        *("sh", "-c", f"id > {PWNED}"),
        **as_user,
    )
    assert packed.returncode == 1 and "a password is required" in packed.stderr, packed.stderr
    for args in [(), ("a", "b"), ("pusher@laptop", "--key=x")]:
        more = vps.exec("sudo", "-n", WRAPPER, *args, **as_user)
        assert more.returncode == 2 and more.stderr == f"usage: {WRAPPER} KEY_NAME\n", args
    for name in [f"x; id > {PWNED}", f"$(id > {PWNED})", "--help", "-h", "a b"]:
        odd = vps.exec("sudo", "-n", WRAPPER, name, **as_user)
        assert odd.returncode == 1, name
        assert odd.stderr.startswith(f"Error: {name!r} is not a push key name\n"), odd.stderr
    env = vps.exec("sudo", "-n", "PYTHONPATH=/tmp", WRAPPER, "k", **as_user)
    assert env.returncode == 1, "sudo keeps only SSH_ORIGINAL_COMMAND"
    assert "not allowed to set the following environment variables: PYTHONPATH" in env.stderr

    # nothing to plant in its home, and a click.py where sudo starts is never imported
    for path in ["/home/hostctl/click.py", "/home/hostctl/.ssh/click.py"]:
        planted = vps.exec("touch", path, **as_user)
        assert planted.returncode == 1 and "Permission denied" in planted.stderr, path
    vps.exec("mkdir", "-p", "/tmp/mine", user="hostctl")
    vps.exec("sh", "-c", f'echo \'open("{PWNED}", "w")\' > /tmp/mine/click.py', user="hostctl")
    started = vps.exec("sudo", "-n", WRAPPER, "k", workdir="/tmp/mine", **as_user)
    assert "only takes git pushes" in started.stderr, started.stderr
    assert vps.exec("test", "-e", PWNED, check=False).returncode == 1, "something ran as root"


ODD_ROOT = "/srv/odd dir,a=b(c)!d#e\\f*g?[h]i%j'k\"l$(id>/root/pwned)`id>/root/pwned`;m"


def test_the_wrapper_passes_odd_settings_literally(vps: Vps, app_name: str, tmp_path: Path):
    """Every character sh, sudoers or its wildcards treat specially, in HOSTCTL_ROOT: the
    push user's sudo runs git-shell as root on exactly that state root, and nothing else."""
    odd = {"HOSTCTL_ROOT": ODD_ROOT}
    done = vps.hostctl("setup", env=odd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/srv" not in vps.read("/etc/sudoers.d/hostctl")
    assert vps.hostctl("apps", "create", app_name, env=odd).returncode == 0
    key = client_key(tmp_path, "k").with_suffix(".pub").read_text()
    assert vps.hostctl("keys", "add", "-", "--name", "k", env=odd, input=key).returncode == 0
    fetch = {"SSH_ORIGINAL_COMMAND": f"git-upload-pack '{app_name}'"}
    ran = vps.exec("sudo", "-n", WRAPPER, "k", env=fetch, user="hostctl", check=False)
    assert ran.stdout == "0000", "git-upload-pack ran on the app's repository: " + ran.stderr
    assert vps.exec("test", "-d", f"{ODD_ROOT}/git/{app_name}.git").returncode == 0
    assert vps.exec("test", "-e", PWNED, check=False).returncode == 1, "something ran as root"
    assert vps.hostctl("apps", "destroy", app_name, "--yes", env=odd).returncode == 0

    # a rule visudo refuses is never installed: the file in place stays as it was
    before = vps.read("/etc/sudoers.d/hostctl")
    broken = (
        "from hostctl.setup.sudoers import install_sudoers\n"
        "install_sudoers('hostctl ALL=(root) NOPASSWD: /bin/echo a\\\\(b\\n')\n"
    )
    failed = vps.exec(PYTHON, "-c", broken, check=False)
    assert failed.returncode == 1 and "visudo refused the sudoers rule" in failed.stderr
    assert vps.read("/etc/sudoers.d/hostctl") == before
    assert vps.exec("ls", "-A", "/etc/sudoers.d").stdout.split() == ["README", "hostctl"]


def test_setup_refuses_to_make_root_run_what_others_can_change(vps: Vps):
    vps.exec("install", "-d", "-o", "nobody", "/srv/theirs")
    for pythonpath, reason in [
        ("/srv/theirs", "/srv/theirs belongs to uid 65534, not root"),
        ("/tmp/missing", "/tmp/missing does not exist and others may create it"),
        ("/tmp", "/tmp is writable by its group or others"),
    ]:
        refused = vps.hostctl("setup", env={"PYTHONPATH": pythonpath})
        assert refused.returncode == 1, pythonpath
        assert statuses(refused.stdout)[f"git-shell {WRAPPER}"] == "failed"
        assert f"root would run or import {pythonpath} for the push user's keys, but {reason}" in (
            refused.stderr
        )
        assert "Hint: install hostctl where only root can write" in refused.stderr
        assert vps.exec("test", "-e", WRAPPER, check=False).returncode == 1, "nothing written"
        assert vps.exec("test", "-e", "/etc/sudoers.d/hostctl", check=False).returncode == 1
