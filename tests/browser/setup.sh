#!/usr/bin/env bash
# Set-up of the browser and DICOMweb-client tests (ctest fixture `web_client_setup`):
#   tests/browser/setup.sh SOURCE_DIR WORK_DIR
# installs the pinned npm packages of tests/browser/package-lock.json into
# WORK_DIR/npm (`npm ci`, from the npm registry; nothing global) and OHIF's
# prebuilt viewer into WORK_DIR/ohif-dist (tools/fetch-ohif.sh, hash
# checked). Both are skipped when already there. Fails with a message naming
# what is missing and how to install it.
set -euo pipefail

die() {
  echo "browser test set-up: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: $0 SOURCE_DIR WORK_DIR"
src="$1"
work="$2"
mkdir -p "$work"

command -v node >/dev/null || die "node not found: the tests need Node.js 20 or newer (with npm; do not apt-get install npm)"
command -v npm >/dev/null || die "npm not found: it comes with Node.js (do not apt-get install npm, it conflicts)"
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium not found: apt-get install chromium (listed in deps/debian-test-packages.txt)"

# npm ci again only when the lock file changed.
npm_dir="$work/npm"
mkdir -p "$npm_dir"
if ! cmp -s "$src/tests/browser/package-lock.json" "$npm_dir/package-lock.json" || [[ ! -d "$npm_dir/node_modules" ]]; then
  rm -rf "$npm_dir/node_modules"
  cp "$src/tests/browser/package.json" "$src/tests/browser/package-lock.json" "$npm_dir/"
  echo "browser test set-up: npm ci in $npm_dir"
  (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund) ||
    die "npm ci failed in $npm_dir (is the npm registry reachable?)"
fi
for package in playwright-core dicomweb-client xhr2; do
  [[ -f "$npm_dir/node_modules/$package/package.json" ]] || die "$package missing from $npm_dir/node_modules after npm ci"
done

"$src/tools/fetch-ohif.sh" "$work/ohif-dist" || die "could not fetch the OHIF viewer into $work/ohif-dist"
echo "browser test set-up: ready in $work"
