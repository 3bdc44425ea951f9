# shellcheck shell=bash
# Bringing up the system parts hostctl needs; shared by scripts/test and install.sh.
# Needs scripts/lib/common.sh sourced first (info, die, show_log_tail).

# install_packages PKG...: apt-get install the packages that are missing, nothing else.
install_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    info "all installed"
    return
  fi
  info "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
}

# ensure_dockerd LOG: start dockerd in the background unless an engine answers; wait for it.
# An engine this did not start is never stopped, and one it starts is left running.
ensure_dockerd() {
  local log=$1 dockerd_bin dockerd_pid
  if docker info >/dev/null 2>&1; then
    info "running ($(docker version -f '{{ .Server.Version }}' 2>/dev/null || echo '?'))"
    return
  fi
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    info "starting docker.service"
    systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    info "not answering; starting dockerd (log: $log)"
    dockerd_bin=$(command -v dockerd || echo /usr/sbin/dockerd)
    setsid nohup "$dockerd_bin" </dev/null >>"$log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        show_log_tail "$log"
        die "dockerd exited right after starting"
      fi
      sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
      show_log_tail "$log"
      die "dockerd (pid $dockerd_pid) did not answer within 60 s; it is left running"
    fi
    info "started dockerd (pid $dockerd_pid); it stays running"
  fi
}
