#!/usr/bin/env bash
# Packaging benchmark (not a test): a large chart (~2,000 files, ~60 MB) is
# packaged by our library (examples/package.rs, release build) and by
# helm 3.10.1's `helm package` in the same run; prints the wall-time ratio,
# both peak memories (from /usr/bin/time -v) and both archive sizes.
# `ours` keeps the archive in a directory like `helm package -d` (and
# fsyncs it before it takes its name); `ours (temp)` writes the temporary
# archive `helm ecr-push` pushes.
#
#   scripts/bench-package.sh            uses $LAB_HELM3, else .lab/env
#   FILES=2000 FILE_KB=30 RUNS=3 scripts/bench-package.sh
#   CONTENT=text scripts/bench-package.sh   YAML-like lines instead of base64
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${FILES:-2000}
FILE_KB=${FILE_KB:-30}
RUNS=${RUNS:-3}
CONTENT=${CONTENT:-base64}

if [ -z "${LAB_HELM3:-}" ] && [ -f "$REPO/.lab/env" ]; then
  # shellcheck disable=SC1091
  source "$REPO/.lab/env"
fi
[ -n "${LAB_HELM3:-}" ] || { echo "LAB_HELM3 is not set: run scripts/lab.sh up first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "building the chart: $FILES files of ${FILE_KB} KiB" >&2
CHART=$WORK/big
mkdir -p "$CHART/templates" "$CHART/files"
printf 'apiVersion: v2\nname: big\nversion: 1.0.0\n' >"$CHART/Chart.yaml"
echo 'replicas: 1' >"$CHART/values.yaml"
# Distinct text per file that does not compress to nothing, split into
# FILES pieces spread over 40 directories: base64 of random bytes (what
# certificates and embedded binaries look like), or YAML-like lines
# (templates and values: deflate finds many matches).
case $CONTENT in
  base64) head -c $((FILES * FILE_KB * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 >"$WORK/all" ;;
  text)
    head -c $((FILES * FILE_KB * 1024 / 5)) /dev/urandom | od -An -tu2 -w8 -v |
      awk '{ printf "  %s-%d:\n    value: \"item-%d\"\n    weight: %d\n", ($1 % 3 ? "replica" : "service"), $1 % 500, $2 % 1000, $3 % 97 }' >"$WORK/all" ;;
  *) echo "CONTENT must be base64 or text" >&2; exit 1 ;;
esac
(cd "$WORK" && split -n l/"$FILES" -a 5 -d all piece.)
i=0
for f in "$WORK"/piece.*; do
  d=$CHART/files/d$((i % 40))
  mkdir -p "$d"
  mv "$f" "$d/f$i.txt"
  i=$((i + 1))
done
rm -f "$WORK/all"
du -sh "$CHART" >&2

(cd "$REPO" && cargo build --release --example package -q)
OURS=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/package

# run NAME CMD...: best wall seconds and max RSS (KiB) over RUNS runs
measure() {
  local best_wall="" best_rss=0 out
  for _ in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/out" && mkdir -p "$WORK/out"
    out=$(/usr/bin/time -v "$@" 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
    local wall rss
    wall=$(echo "$out" | awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}')
    rss=$(echo "$out" | awk -F': ' '/Maximum resident set size/ {print $2}')
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; fi
    [ "$rss" -gt "$best_rss" ] && best_rss=$rss
  done
  echo "$best_wall $best_rss"
}

read -r ours_wall ours_rss < <(measure "$OURS" "$CHART" "$WORK/out")
ours_size=$(stat -c %s "$WORK/out/big-1.0.0.tgz")
mv "$WORK/out/big-1.0.0.tgz" "$WORK/ours.tgz"
read -r temp_wall temp_rss < <(measure "$OURS" "$CHART" -)
read -r helm_wall helm_rss < <(measure "$LAB_HELM3" package "$CHART" -d "$WORK/out")
helm_size=$(stat -c %s "$WORK/out/big-1.0.0.tgz")

# A fast archive is worth nothing unless every reader takes it: gzip, tar,
# helm 3 (Go's compress/gzip) and, when the lab has it, the Helm 4 SDK.
gzip -t "$WORK/ours.tgz"
entries=$(tar tzf "$WORK/ours.tgz" | wc -l)
[ "$entries" -eq $((FILES + 2)) ] || { echo "our archive holds $entries entries, not $((FILES + 2))" >&2; exit 1; }
"$LAB_HELM3" show chart "$WORK/ours.tgz" >/dev/null
if [ -n "${LAB_PYTHON:-}" ] && [ -n "${LAB_HELM4:-}" ]; then
  "$LAB_PYTHON" "$LAB_HELM4" show-chart "$WORK/ours.tgz" >/dev/null
fi

printf 'ours:         %6.2f s wall, %7d KiB peak RSS, %10d bytes\n' "$ours_wall" "$ours_rss" "$ours_size"
printf 'ours (temp):  %6.2f s wall, %7d KiB peak RSS\n' "$temp_wall" "$temp_rss"
printf 'helm package: %6.2f s wall, %7d KiB peak RSS, %10d bytes\n' "$helm_wall" "$helm_rss" "$helm_size"
awk -v o="$ours_wall" -v h="$helm_wall" 'BEGIN { if (o > 0) printf "wall-time ratio (helm / ours): %.2fx\n", h / o }'
