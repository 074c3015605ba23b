#!/usr/bin/env bash
# Installs axe-core (the accessibility checker the browser tests run in every engine),
# pinned, into .cache/axe (gitignored) and prints the path of axe.min.js. Exits non-zero when
# npm cannot reach its registry, so the tests can skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${AXE_DEPS:-$PWD/.cache/axe}
AXE=4.14.1
js="$dir/node_modules/axe-core/axe.min.js"
stamp="$dir/.installed-$AXE"
if [ -e "$stamp" ] && [ -e "$js" ]; then
	echo "$js"
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "install-axe: npm is not installed (apt-get install nodejs npm)" >&2
	exit 1
fi
mkdir -p "$dir"
npm install --no-audit --no-fund --silent --prefix "$dir" --ignore-scripts "axe-core@$AXE" >&2
touch "$stamp"
echo "$js"
