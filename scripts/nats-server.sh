# Source this file: it makes sure `nats-server` on PATH is at least 2.15, the release line the shipped
# images run and the tests are measured on. When the system's is older (Debian bookworm packages 2.9.10) or
# missing, it takes the nats-server package of Debian testing (unstable if testing has none): the
# archive's InRelease is checked with gpgv against debian-archive-keyring, then the Packages index and the
# .deb against the SHA-256 sums they list. The binary is unpacked into a cache folder outside the repository
# and that folder put first on PATH. Needs curl, gpgv, xz and dpkg-deb.
#   . scripts/nats-server.sh
wakegate_nats_ok() {
  local version major minor
  version="$("${1:-nats-server}" --version 2>/dev/null | sed -n 's/^nats-server: v\([0-9]*\.[0-9]*\).*/\1/p')"
  [ -n "$version" ] || return 1
  major="${version%.*}" minor="${version#*.}"
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 15 ]; }
}

# Prints the folder holding a verified nats-server of `suite`, fetching it unless the cache has it. A
# subshell, so that its downloads folder goes when it ends, however it ends.
wakegate_nats_fetch() (
  suite="$1" mirror="${WAKEGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  arch="$(dpkg --print-architecture)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # Bounded, so that a mirror that stops answering fails the fetch instead of hanging CI.
  get() { curl -fsSL --connect-timeout 20 --max-time 600 --retry 3 "$1" -o "$2"; }
  get "$mirror/dists/$suite/InRelease" "$work/InRelease" || exit 1
  if ! gpgv --quiet --keyring /usr/share/keyrings/debian-archive-keyring.gpg --output "$work/Release" \
    "$work/InRelease" 2>"$work/gpgv.log"; then
    echo "nats-server: gpgv refuses $suite's InRelease against debian-archive-keyring:" >&2
    cat "$work/gpgv.log" >&2
    exit 1
  fi
  index="main/binary-$arch/Packages.xz"
  index_sum="$(awk -v f="$index" '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1 }' "$work/Release")"
  [ -n "$index_sum" ] || exit 1
  get "$mirror/dists/$suite/$index" "$work/Packages.xz" || exit 1
  echo "$index_sum  $work/Packages.xz" | sha256sum --check --quiet - >&2 || exit 1
  xz -dc "$work/Packages.xz" | awk '/^Package: nats-server$/ { p = 1 } p && /^$/ { exit } p' >"$work/stanza"
  file="$(sed -n 's/^Filename: //p' "$work/stanza")"
  sum="$(sed -n 's/^SHA256: //p' "$work/stanza")"
  version="$(sed -n 's/^Version: //p' "$work/stanza")"
  [ -n "$file" ] && [ -n "$sum" ] && [ -n "$version" ] || exit 1
  # A version with an epoch (1:2.16.0-1) would put a ':' into PATH.
  cache="$WAKEGATE_NATS_CACHE/$(printf '%s' "$version" | tr ':' '_')"
  if ! wakegate_nats_ok "$cache/nats-server"; then
    echo "nats-server: installing Debian $suite's nats-server $version into $cache" >&2
    get "$mirror/$file" "$work/nats-server.deb" || exit 1
    echo "$sum  $work/nats-server.deb" | sha256sum --check --quiet - >&2 || exit 1
    dpkg-deb -x "$work/nats-server.deb" "$work/root" || exit 1
    mkdir -p "$cache"
    install -m 0755 "$work/root/usr/sbin/nats-server" "$cache/nats-server" || exit 1
  fi
  # Older than 2.15 (a suite that has not moved on yet): the caller tries the next suite.
  wakegate_nats_ok "$cache/nats-server" || { echo "nats-server: Debian $suite has $version, older than 2.15" >&2; exit 1; }
  echo "$cache"
)

if ! wakegate_nats_ok; then
  WAKEGATE_NATS_CACHE="${WAKEGATE_NATS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wakegate-nats-server}"
  wakegate_nats_dir=""
  for wakegate_nats_cached in "$WAKEGATE_NATS_CACHE"/*/nats-server; do
    wakegate_nats_ok "$wakegate_nats_cached" && wakegate_nats_dir="$(dirname "$wakegate_nats_cached")"
  done
  [ -n "$wakegate_nats_dir" ] ||
    wakegate_nats_dir="$(wakegate_nats_fetch testing || wakegate_nats_fetch unstable)" || true
  if [ -n "$wakegate_nats_dir" ] && wakegate_nats_ok "$wakegate_nats_dir/nats-server"; then
    PATH="$wakegate_nats_dir:$PATH"
    export PATH
  else
    echo "nats-server: could not provide nats-server >= 2.15" >&2
    unset -f wakegate_nats_ok wakegate_nats_fetch
    return 1
  fi
  unset wakegate_nats_dir wakegate_nats_cached
fi
unset -f wakegate_nats_ok wakegate_nats_fetch
