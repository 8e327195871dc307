#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to the project's
# PublicAPI.Unshipped.txt, so a change to the public surface is one reviewed diff.
# Usage: build/update-public-api.sh src/Cloister
set -euo pipefail
project=${1:?usage: $0 <project folder>}
unshipped="$project/PublicAPI.Unshipped.txt"
[ -f "$unshipped" ] || echo '#nullable enable' > "$unshipped"
symbols=$(dotnet build "$project" --no-incremental 2>&1 | grep -oP "RS0016: Symbol '\K.*(?=' is not part of the declared public API)" | sort -u || true)
if [ -n "$symbols" ]; then
  { cat "$unshipped"; printf '%s\n' "$symbols"; } | grep -v '^#nullable' | sort -u > "$unshipped.tmp"
  { echo '#nullable enable'; cat "$unshipped.tmp"; } > "$unshipped"
  rm "$unshipped.tmp"
fi
echo "$(grep -vc '^#nullable' "$unshipped") symbols declared in $unshipped"
