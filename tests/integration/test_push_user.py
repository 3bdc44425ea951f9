"""`hostctl setup` on a fresh box (a container running sshd, see tests/vps_support.py), then
`git push ssh://hostctl@BOX/APP` from the host through the box's real sshd and sudo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NAMESPACE
from tests.ssh_support import client_key, forwarded_banner
from tests.support import commit, git, http_get, make_repo
from tests.vps_support import PYTHON, Vps, vps_image

pytestmark = pytest.mark.integration

STEPS = [
    "packages sudo openssh-server",
    "user hostctl",
    "sudoers /etc/sudoers.d/hostctl",
    "authorized_keys of hostctl",
]
FILES = ["/etc/sudoers.d/hostctl", "/home/hostctl/.ssh", "/home/hostctl/.ssh/authorized_keys"]


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    return vps_image()


@pytest.fixture
def vps(image: str) -> Iterator[Vps]:
    box = Vps.start(image, NAMESPACE)
    yield box
    box.remove()


def statuses(output: str) -> dict[str, str]:
    """{step: ok|applied|missing|failed} from `hostctl setup`'s one line per step."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("ok", "applied", "missing", "failed"):
            found[rest.strip().split("  (")[0]] = status
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
    assert statuses(before.stdout) == {
        "packages sudo openssh-server": "missing",
        "user hostctl": "missing",
        "sudoers /etc/sudoers.d/hostctl": "missing",
        "authorized_keys of hostctl": "missing",
    }
    assert "Error: not done yet: packages sudo openssh-server, user hostctl" in before.stderr
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
    assert vps.exec("stat", "-c", "%a %U:%G %F", *FILES).stdout.splitlines() == [
        "440 root:root regular file",
        "700 hostctl:hostctl directory",
        "600 hostctl:hostctl regular file",
    ]
    assert vps.exec("visudo", "-c").returncode == 0
    assert vps.exec("ls", "-A", "/etc/sudoers.d").stdout.split() == ["README", "hostctl"]
    sudoers = vps.read("/etc/sudoers.d/hostctl")
    rule = (
        "hostctl ALL=(root) NOPASSWD: /usr/bin/env "
        f"HOSTCTL_NAMESPACE\\={vps.namespace} HOSTCTL_HTTP_PORT\\={vps.http_port} "
        f"{PYTHON} -m hostctl git-shell --key *\n"
    )
    assert sudoers.endswith(rule), sudoers
    assert 'Defaults:hostctl env_keep += "SSH_ORIGINAL_COMMAND"' in sudoers
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

    vps.exec("chmod", "0755", "/root")  # so that another user can start the interpreter
    not_root = vps.exec(PYTHON, "-m", "hostctl", "setup", user="nobody", check=False)
    assert not_root.returncode == 1 and not_root.stdout == ""
    assert not_root.stderr.startswith("Error: hostctl setup must run as root")
    assert "Traceback" not in not_root.stderr


def test_git_push_to_the_push_user_deploys(vps: Vps, tmp_path: Path, app_name: str):
    pusher = client_key(tmp_path)
    set_up_with_a_key(vps, pusher)
    line = vps.read("/home/hostctl/.ssh/authorized_keys").splitlines()[-1]
    assert line.startswith('command="sudo -n /usr/bin/env HOSTCTL_NAMESPACE=')
    assert 'git-shell --key pusher@laptop",restrict ssh-ed25519 ' in line
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
    wrong = {
        name: (d.returncode, d.stderr[-200:]) for name, d in refused.items() if d.returncode == 0
    }
    assert wrong == {}, wrong
    assert "only takes git pushes" in refused["a shell"].stderr
    assert "sh is not allowed here" in refused["a command"].stderr
    assert "sudo is not allowed here" in refused["sudo"].stderr
    assert forwarded_banner(pusher, vps.ssh_port, "hostctl@127.0.0.1") == b"", "no forwarding"
    allowed = vps.ssh(pusher, f"git-upload-pack '{app_name}'")
    assert allowed.stdout == "0000", "git-upload-pack ran as root: an empty repository's refs"

    # the user's own sudo: the git-shell, exactly as its keys run it, and nothing else
    assert (
        "a password is required"
        in vps.exec("sudo", "-n", "true", user="hostctl", check=False).stderr
    )
    listed = vps.exec("sudo", "-n", "-l", user="hostctl").stdout
    commands = listed.split("may run the following commands on")[1].splitlines()[1:]
    assert [c for c in commands if c.strip()] == [
        f"    (root) NOPASSWD: /usr/bin/env HOSTCTL_NAMESPACE\\={vps.namespace} "
        f"HOSTCTL_HTTP_PORT\\={vps.http_port} {PYTHON} -m hostctl git-shell --key *"
    ]
    elsewhere = vps.exec(
        *(
            "sudo",
            "-n",
            "/usr/bin/env",
            "HOSTCTL_ROOT=/tmp/mine",
            f"HOSTCTL_NAMESPACE={vps.namespace}",
        ),
        *(f"HOSTCTL_HTTP_PORT={vps.http_port}", PYTHON, "-m", "hostctl", "git-shell", "--key", "x"),
        user="hostctl",
        check=False,
    )
    assert "a password is required" in elsewhere.stderr, "another state root is refused"

    assert vps.hostctl("keys", "remove", "pusher@laptop").returncode == 0
    assert "pusher@laptop" not in vps.read("/home/hostctl/.ssh/authorized_keys")
    denied = vps.ssh(pusher, f"git-upload-pack '{app_name}'")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr
    assert vps.hostctl("apps", "destroy", app_name, "--yes").returncode == 0


ODD_ROOT = "/srv/odd,dir:a=b(c)!d#e\\f*g?[h]i%j"


def test_the_sudoers_rule_matches_odd_paths_literally(vps: Vps):
    """Every character sudoers or its wildcards treat specially, in HOSTCTL_ROOT: sudo
    runs the push user's forced command with it, and refuses the same with a glob's
    worth of difference."""
    odd = {"HOSTCTL_ROOT": ODD_ROOT}
    done = vps.hostctl("setup", env=odd)
    assert done.returncode == 0, done.stdout + done.stderr
    show = (
        "import json; from hostctl.push.user import forced_command as f; print(json.dumps(f('k')))"
    )
    argv = json.loads(vps.exec(PYTHON, "-c", show, env=odd).stdout)
    assert argv[:3] == ["sudo", "-n", "/usr/bin/env"] and f"HOSTCTL_ROOT={ODD_ROOT}" in argv
    ran = vps.exec(*argv, user="hostctl", check=False)
    assert "this account only takes git pushes" in ran.stderr, "sudo ran hostctl's git-shell"
    for lookalike in ("/srv/odd,dir:a=b(c)!d#e\\fXg?[h]i%j", "/srv/odd,dir:a=b(c)!d#e\\f*gX[h]i%j"):
        tampered = [a.replace(ODD_ROOT, lookalike) for a in argv]
        refused = vps.exec(*tampered, user="hostctl", check=False)
        assert "a password is required" in refused.stderr, lookalike

    spaced = vps.hostctl("setup", env={"HOSTCTL_ROOT": "/srv/with space"})
    assert spaced.returncode == 1
    assert statuses(spaced.stdout)["sudoers /etc/sudoers.d/hostctl"] == "failed"
    assert "it is empty or has whitespace" in spaced.stderr and "Hint:" in spaced.stderr
    assert "Traceback" not in spaced.stderr

    # a rule visudo refuses is never installed: the file in place stays as it was
    before = vps.read("/etc/sudoers.d/hostctl")
    broken = (
        "from hostctl.push.user import install_sudoers\n"
        "install_sudoers('hostctl ALL=(root) NOPASSWD: /bin/echo a\\\\(b\\n')\n"
    )
    failed = vps.exec(PYTHON, "-c", broken, check=False)
    assert failed.returncode == 1 and "visudo refused the sudoers rule" in failed.stderr
    assert vps.read("/etc/sudoers.d/hostctl") == before
    assert vps.exec("ls", "-A", "/etc/sudoers.d").stdout.split() == ["README", "hostctl"]
