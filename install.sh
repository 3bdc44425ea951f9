#!/usr/bin/env bash
# Set up this machine as a hostctl host with the embedded defaults, and deploy the example.
#
#   ./install.sh            as root, from a clone of the repository, on Debian 12 / Ubuntu
#
# It installs Docker, Caddy and git (apt), Litestream (for Litestream mode: the official
# release, or the same version from the npm registry where that cannot be downloaded; kept
# when one is on PATH already), starts the Docker engine if none runs, installs
# hostctl into /opt/hostctl (a virtualenv; `hostctl` is linked into /usr/local/bin), makes
# sure the base images exist (pulling them, or building stand-ins with scripts/offline-images
# where no registry is reachable), runs `hostctl setup --non-interactive` (the engine's
# settings, Caddy and the agent as systemd services where systemd runs, the push user), then
# creates the app `hello` from examples/hello, deploys it and prints its URL. Re-running it
# is safe: every step checks before it acts.
#
# Environment: HOSTCTL_HTTP_PORT (the edge port written to a new server config; default 80),
# HOSTCTL_PREFIX (default /opt/hostctl).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib/common.sh"
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib/system.sh"
# shellcheck source=scripts/lib/litestream.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib/litestream.sh"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${HOSTCTL_PREFIX:-/opt/hostctl}
need_root install.sh
cd "$REPO_ROOT"

stage "system packages"
install_packages docker.io tini caddy git sqlite3 debootstrap curl iptables ca-certificates \
  python3 python3-venv

stage "litestream"
# Only Litestream mode (off unless backup/litestream in hostctl.yml) needs it: a box without
# it still gets hourly snapshots, so a failure here is a warning.
ensure_litestream official ||
  warn "Litestream mode cannot run until litestream is on PATH (re-run ./install.sh)"

stage "docker engine"
ensure_dockerd /var/log/hostctl-dockerd.log

stage "hostctl"
if [[ ! -x $PREFIX/venv/bin/python ]]; then
  info "creating $PREFIX/venv"
  python3 -m venv "$PREFIX/venv"
fi
"$PREFIX/venv/bin/python" -m pip install --disable-pip-version-check -q "$REPO_ROOT"
ln -sf "$PREFIX/venv/bin/hostctl" /usr/local/bin/hostctl
info "$(hostctl --version)"

stage "base images"
scripts/offline-images

stage "server config"
etc=${HOSTCTL_ETC:-/etc/hostctl}
if [[ -f $etc/hostctl.yml ]]; then
  info "keeping $etc/hostctl.yml"
else
  install -d -m 0755 "$etc"
  printf '# hostctl server config: see docs/apps.md\nhttp_port: %s\n' \
    "${HOSTCTL_HTTP_PORT:-80}" >"$etc/hostctl.yml"
  info "wrote $etc/hostctl.yml (edge on port ${HOSTCTL_HTTP_PORT:-80})"
fi

stage "hostctl setup"
# Without questions (answer them later with `hostctl setup`). Without systemd as PID 1 (a
# container) the service steps say so and pass: hostctl starts Caddy itself. The git-shell
# wrapper it writes names the settings hostctl runs with; the edge port is in the server
# config from now on, so it is not one of them.
env -u HOSTCTL_HTTP_PORT hostctl setup --non-interactive | sed 's/^/    /'

stage "example app"
if ! hostctl apps info hello >/dev/null 2>&1; then
  hostctl apps create hello
fi
hostctl deploy hello "$REPO_ROOT/examples/hello"
url=$(hostctl apps info hello --json | "$PREFIX/venv/bin/python" -c \
  'import json, sys; print(json.load(sys.stdin)["urls"][0])')

stage "done"
info "hello is live at $url"
info "try: curl $url   (*.localhost names resolve to this machine)"
info "next: hostctl apps create NAME && hostctl deploy NAME PATH_OR_GIT_URL"
info "or push: hostctl keys add KEY.pub, then in your app's repository:"
info "  git remote add hostctl ssh://hostctl@$(hostname -f 2>/dev/null || hostname)/NAME && git push hostctl main"
