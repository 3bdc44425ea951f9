# shellcheck shell=bash
# Helpers shared by scripts/test and scripts/offline-images. Source this file; don't run it.

# Absolute path of the repository root (this file lives in scripts/lib/).
hostctl_repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
}

stage() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    die "$1 must run as root (it installs packages, starts dockerd, runs debootstrap)"
  fi
}

# Print the last lines of a log file, indented, to stderr.
show_log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -f $file ]]; then
    printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
    tail -n "$lines" -- "$file" | sed 's/^/    /' >&2
    printf -- '---\n' >&2
  fi
}

# Seconds since the epoch, with fractions if available.
now_seconds() { date +%s.%N; }

# Elapsed time since $1 (a now_seconds value), formatted like "12.3s".
elapsed_since() {
  local start=$1 end
  end=$(now_seconds)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1fs", e - s }'
}
