#!/usr/bin/env bash
# Installs the Debian packages the tests use, only when something is missing, so a fresh
# Debian machine with Go gets everything from `make test` alone.
set -euo pipefail
# Browsers: Chromium (the full suite), Firefox ESR and WebKitGTK (the focused suite in
# every engine: internal/webdriver); MiniBrowser draws on a private Xvfb display.
pkgs=(python3-torch python3-torchvision python3-onnx python3-pil python3-skimage libonnx-testdata chromium fonts-liberation libjpeg-turbo-progs nodejs firefox-esr webkit2gtk-driver xvfb)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# The Cloudflare Worker's test runs workerd from npm (pinned, into .cache/cloudflare-deps), the
# browser tests axe-core (.cache/axe); without npm or its registry they skip and say why.
worker_deps() {
	"$(dirname "$0")/install-cloudflare-deps.sh" >/dev/null || echo "install-test-deps: wrangler/workerd not installed: the Worker test will skip"
	# axe-core, the accessibility checker the browser tests run in every engine.
	"$(dirname "$0")/install-axe.sh" >/dev/null || echo "install-test-deps: axe-core not installed: the accessibility checks will skip"
}
if [ ${#missing[@]} -eq 0 ]; then
	worker_deps
	exit 0
fi
echo "installing test dependencies: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
worker_deps
