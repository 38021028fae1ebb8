#!/bin/sh
# The compose stack's one-shot `secrets` service: makes the bridge token and a NATS password per service
# once (they stay in their volumes across `docker compose up`s; each service's password in a volume of its
# own), renders Envoy's configuration with the
# token and NATS's with the passwords, so the filter and the bridge share a token, each service has its NATS
# user, and nobody had to type a secret. Delete the volumes to rotate (docs/docker.md).
#
#   compose-secrets.sh <envoy.yaml in> <envoy.yaml out> <token file> \
#                      <authorization.conf in> <NATS config folder out> <NATS passwords folder out> \
#                      [<NATS passwords folder of an earlier release, one file per service>]
set -eu
envoy_in=$1
envoy_out=$2
token_file=$3
authorization_in=$4
nats_dir=$5
passwords_dir=$6
earlier_passwords_dir=${7:-}
placeholder='@WAKEGATE_BRIDGE_TOKEN@'

# A secret made once: 32 random bytes, base64url without padding (43 characters a shell, YAML, JSON, nats.conf
# and sed take literally), readable by the services that mount it, written atomically.
make_secret() {
  [ -s "$1" ] && return 0
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$1.new"
  chmod 0444 "$1.new"
  mv "$1.new" "$1"
  echo "secrets: made $1"
}

read_secret() {
  value=$(cat "$1")
  case "$value" in
  *[!A-Za-z0-9_-]* | "") echo "secrets: $1 does not hold a base64url secret" >&2 && exit 1 ;;
  esac
  printf '%s' "$value"
}

make_secret "$token_file"
token=$(read_secret "$token_file")
if ! grep -q "$placeholder" "$envoy_in"; then
  echo "secrets: $envoy_in has no $placeholder to fill in" >&2
  exit 1
fi
sed "s|$placeholder|$token|g" "$envoy_in" >"$envoy_out.new"
chmod 0444 "$envoy_out.new"
mv "$envoy_out.new" "$envoy_out"
echo "secrets: rendered $envoy_out"

# NATS: the users of authorization.conf, each password variable replaced by the service's password. Each
# password is in a folder of its own (<passwords folder>/<service>/password), a volume only that service
# mounts, so no service can read another's.
substitutions=""
for service in bridge watcher scaler; do
  mkdir -p "$passwords_dir/$service"
  # A password an earlier release kept in the one volume of all three is carried over, so the NATS that runs
  # with it still takes the services after the upgrade.
  earlier="$earlier_passwords_dir/$service"
  if [ -n "$earlier_passwords_dir" ] && [ ! -s "$passwords_dir/$service/password" ] && [ -s "$earlier" ]; then
    read_secret "$earlier" >"$passwords_dir/$service/password.new"
    chmod 0444 "$passwords_dir/$service/password.new"
    mv "$passwords_dir/$service/password.new" "$passwords_dir/$service/password"
    echo "secrets: carried over $earlier"
  fi
  make_secret "$passwords_dir/$service/password"
  variable="WAKEGATE_$(echo "$service" | tr '[:lower:]' '[:upper:]')_NATS_PASSWORD"
  substitutions="$substitutions -e s|\\\$$variable|\"$(read_secret "$passwords_dir/$service/password")\"|g"
done
# shellcheck disable=SC2086 # word splitting of the sed expressions is intended
sed $substitutions "$authorization_in" >"$nats_dir/nats.conf.new"
# The monitoring port answers without credentials (connections, subjects, streams): only the container's
# own healthcheck reaches it, on loopback.
printf '\nhttp: "127.0.0.1:8222"\n' >>"$nats_dir/nats.conf.new"
if grep -q '\$WAKEGATE_' "$nats_dir/nats.conf.new"; then
  echo "secrets: $authorization_in names a password variable this script does not fill in" >&2
  exit 1
fi
chmod 0444 "$nats_dir/nats.conf.new"
mv "$nats_dir/nats.conf.new" "$nats_dir/nats.conf"
echo "secrets: rendered $nats_dir/nats.conf"
