#!/bin/sh
# The compose stack's one-shot `secrets` service: makes the bridge token once (it stays in its volume
# across `docker compose up`s) and renders Envoy's configuration with it, so the filter and the bridge share
# a token nobody had to type and the bridge never runs open. Delete the volume to rotate (docs/docker.md).
#
#   compose-secrets.sh <envoy.yaml in> <envoy.yaml out> <token file>
set -eu
envoy_in=$1
envoy_out=$2
token_file=$3
placeholder='@WAKEGATE_BRIDGE_TOKEN@'

if [ ! -s "$token_file" ]; then
  # 32 random bytes, base64url without padding: 43 characters a shell, YAML, JSON and sed take literally.
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$token_file.new"
  chmod 0444 "$token_file.new"
  mv "$token_file.new" "$token_file"
  echo "secrets: made a new bridge token"
fi
token=$(cat "$token_file")
case "$token" in
*[!A-Za-z0-9_-]* | "") echo "secrets: $token_file does not hold a base64url token" >&2 && exit 1 ;;
esac

if ! grep -q "$placeholder" "$envoy_in"; then
  echo "secrets: $envoy_in has no $placeholder to fill in" >&2
  exit 1
fi
sed "s|$placeholder|$token|g" "$envoy_in" >"$envoy_out.new"
chmod 0444 "$envoy_out.new"
mv "$envoy_out.new" "$envoy_out"
echo "secrets: rendered $envoy_out"
