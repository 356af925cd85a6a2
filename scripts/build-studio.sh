#!/usr/bin/env bash
# Build the studio (web/: React + React Flow, with Vite) into src/pathweaver/studio_dist/,
# which `pathweaver serve` serves at /studio. Needs Node.js 20.19+ (or 22.12+) and npm.
#
#   scripts/build-studio.sh           build when a source is newer than the last build
#   scripts/build-studio.sh --force   build anyway
#
# The build output is not committed; scripts/setup.sh runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

out=src/pathweaver/studio_dist
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "unknown option: $arg (use --force)" >&2; exit 2 ;;
  esac
done

sources=(web/src web/public web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json)
if [ "$force" = 0 ] && [ -f "$out/index.html" ] &&
  [ -z "$(find "${sources[@]}" -newer "$out/index.html" ! -name '*.test.ts' -print -quit)" ]; then
  echo "==> the studio is up to date ($out)"
  exit 0
fi

if ! command -v npm >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)'; then
  echo "building the studio needs Node.js 20.19+ or 22.12+ with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

cd web
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing the studio's packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> building the studio into $out"
npm run --silent build
