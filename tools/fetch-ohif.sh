#!/usr/bin/env bash
# Fetches the prebuilt OHIF viewer (npm @ohif/app, pinned version) and puts
# its dist/ into DEST, for `pacscore serve --viewer DEST`.
#
#   tools/fetch-ohif.sh DEST
#
# The package is taken with `npm pack`, not `npm install`: its `engines`
# field asks for Node 24 and it ships the viewer already built. The tarball's
# sha512 is checked against the value pinned below (npm's `dist.integrity`
# of that version) before anything is extracted. Idempotent: when DEST holds
# this version's dist/ (the stamp file written last), nothing is fetched.
# Extraction goes to a temporary folder next to DEST, renamed into place only
# when complete, so an interrupted run leaves no half-filled DEST.
set -euo pipefail

readonly OHIF_PACKAGE="@ohif/app"
readonly OHIF_VERSION="3.13.2"
readonly OHIF_INTEGRITY="sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
readonly STAMP_NAME=".pacscore-ohif-stamp"

die() {
  echo "fetch-ohif: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 DEST (the folder that receives OHIF ${OHIF_VERSION}'s dist/)"
dest="${1%/}"
[[ -n "$dest" ]] || die "DEST is empty"
stamp_text="${OHIF_PACKAGE}@${OHIF_VERSION} ${OHIF_INTEGRITY}"

if [[ -f "$dest/$STAMP_NAME" && "$(cat "$dest/$STAMP_NAME")" == "$stamp_text" && -f "$dest/index.html" ]]; then
  echo "fetch-ohif: $dest already holds ${OHIF_PACKAGE}@${OHIF_VERSION} (verified when fetched); nothing to do"
  exit 0
fi
if [[ -e "$dest" ]] && [[ -n "$(ls -A "$dest" 2>/dev/null)" ]]; then
  die "$dest exists and is not an OHIF ${OHIF_VERSION} folder made by this script (no matching $STAMP_NAME); remove it or pick another folder, nothing was changed"
fi

command -v npm >/dev/null || die "npm not found: Node.js and npm are needed (they come with Node.js, do not apt-get install npm)"
command -v openssl >/dev/null || die "openssl not found (Debian package openssl)"

parent="$(dirname "$dest")"
mkdir -p "$parent"
work="$(mktemp -d "$parent/.fetch-ohif.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-ohif: npm pack ${OHIF_PACKAGE}@${OHIF_VERSION} (about 50 MB)"
if ! (cd "$work" && npm pack --silent "${OHIF_PACKAGE}@${OHIF_VERSION}" >pack.out 2>pack.err); then
  cat "$work/pack.err" >&2 || true
  die "npm pack ${OHIF_PACKAGE}@${OHIF_VERSION} failed (is the npm registry reachable?); nothing was changed in $dest"
fi
tarball="$work/ohif-app-${OHIF_VERSION}.tgz"
[[ -f "$tarball" ]] || die "npm pack did not write $tarball (it printed: $(cat "$work/pack.out"))"

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$OHIF_INTEGRITY" ]]; then
  die "integrity check failed for ${OHIF_PACKAGE}@${OHIF_VERSION}: expected $OHIF_INTEGRITY, got $actual; the tarball was discarded, nothing extracted"
fi

mkdir "$work/extract"
tar -xzf "$tarball" -C "$work/extract" package/dist ||
  die "could not extract package/dist from the verified tarball; nothing was changed in $dest"
[[ -f "$work/extract/package/dist/index.html" ]] || die "the package has no dist/index.html; nothing was changed in $dest"
printf '%s\n' "$stamp_text" >"$work/extract/package/dist/$STAMP_NAME"

[[ -d "$dest" ]] && rmdir "$dest"  # empty (checked above)
mv "$work/extract/package/dist" "$dest"
echo "fetch-ohif: ${OHIF_PACKAGE}@${OHIF_VERSION} verified ($OHIF_INTEGRITY) and extracted to $dest"
