#!/usr/bin/env bash
# Fetches the two public-domain series examples/forecast is shown on from Debian's
# python3-statsmodels package (no Python needed: the .deb is unpacked with dpkg-deb):
#   statsmodels/datasets/sunspots/sunspots.csv  yearly sunspot activity 1700-2008 (YEAR,SUNACTIVITY)
#   statsmodels/datasets/co2/co2.csv            Mauna Loa weekly CO2 1958-2001 (date,co2)
# into data/series/ (or the directory given), and says whether each equals the committed copy.
#   scripts/fetch_series.sh [OUT_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${1:-"$root/data/series"}
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
# apt-get download runs as the _apt user when it can; a root-owned temp dir only costs a warning.
if ! apt-get download python3-statsmodels 2>"$work/apt.log"; then
  cat "$work/apt.log" >&2
  echo "fetch_series: apt-get download python3-statsmodels failed (run apt-get update first?)" >&2
  exit 1
fi
deb=$(ls "$work"/python3-statsmodels_*.deb)
echo "fetch_series: $(basename "$deb")"
dpkg-deb -x "$deb" "$work/unpacked"
datasets=$(find "$work/unpacked" -type d -path '*/statsmodels/datasets' | head -n 1)
for file in sunspots/sunspots.csv co2/co2.csv; do
  name=$(basename "$file")
  committed="$root/data/series/$name"
  status="new"
  if [[ -f "$committed" ]]; then
    if cmp -s "$datasets/$file" "$committed"; then status="identical to the committed copy"
    else status="DIFFERS from the committed copy"; fi
  fi
  cp "$datasets/$file" "$out_dir/$name"
  echo "fetch_series: $out_dir/$name ($(wc -l < "$out_dir/$name") lines, $status)"
done
