#!/usr/bin/env bash
# Brings the project's PublicAPI.Unshipped.txt in line with its public surface: adds the symbols the
# PublicApiAnalyzers report as undeclared (RS0016) and drops the ones that no longer exist (RS0017),
# so a change to the public surface is one reviewed diff.
# Usage: build/update-public-api.sh src/Cloister
set -euo pipefail
project=${1:?usage: $0 <project folder>}
unshipped="$project/PublicAPI.Unshipped.txt"
[ -f "$unshipped" ] || echo '#nullable enable' > "$unshipped"
log=$(dotnet build "$project" --no-incremental 2>&1 || true)
added=$(grep -oP "RS0016: Symbol '\K.*(?=' is not part of the declared public API)" <<<"$log" | sort -u || true)
removed=$(grep -oP "RS0017: Symbol '\K.*(?=' is part of the declared API, but is either not public or could not be found)" <<<"$log" | sort -u || true)
{ grep -v '^#nullable' "$unshipped" || true; [ -z "$added" ] || printf '%s\n' "$added"; } | sort -u \
  | { if [ -n "$removed" ]; then grep -vxF -f <(printf '%s\n' "$removed"); else cat; fi; } > "$unshipped.tmp" || true
{ echo '#nullable enable'; cat "$unshipped.tmp"; } > "$unshipped"
rm "$unshipped.tmp"
echo "$(grep -vc '^#nullable' "$unshipped") symbols declared in $unshipped"
