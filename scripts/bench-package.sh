#!/usr/bin/env bash
# Packaging benchmark (not a test): a large chart (~2,000 files, ~60 MB) is
# packaged by our library (examples/package.rs, release build) and by
# `helm package` of Helm 4 (the main peer), the current Helm 3 and helm 3.10.1
# in the same run; prints the wall-time ratios, peak memories (from
# /usr/bin/time -v) and archive sizes.
# `ours` keeps the archive in a directory like `helm package -d` (and
# fsyncs it before it takes its name); `ours (temp)` writes the temporary
# archive `helm ecr-push` pushes.
#
#   scripts/bench-package.sh            brings the lab up when needed (its Helm CLIs)
#   FILES=2000 FILE_KB=30 RUNS=3 scripts/bench-package.sh
#   CONTENT=text scripts/bench-package.sh   YAML-like lines instead of base64
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${FILES:-2000}
FILE_KB=${FILE_KB:-30}
RUNS=${RUNS:-3}
CONTENT=${CONTENT:-base64}

[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }

WORK=
cleanup() {
  [ -n "$WORK" ] && rm -rf "$WORK"
  lab_session_end || true
}
# shellcheck source=scripts/lab/session.sh
. "$REPO/scripts/lab/session.sh"
trap cleanup EXIT
lab_session_start >/dev/null || { echo "the lab did not come up (see above)" >&2; exit 1; }
WORK=$(mktemp -d)

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
read -r helm_wall helm_rss < <(measure "$LAB_HELM_V4" package "$CHART" -d "$WORK/out")
helm_size=$(stat -c %s "$WORK/out/big-1.0.0.tgz")
read -r helm3_wall helm3_rss < <(measure "$LAB_HELM_V3" package "$CHART" -d "$WORK/out")
read -r helm310_wall helm310_rss < <(measure "$LAB_HELM3" package "$CHART" -d "$WORK/out")

# A fast archive is worth nothing unless every reader takes it: gzip, tar,
# every Helm (Go's compress/gzip) and the Helm 4 SDK.
gzip -t "$WORK/ours.tgz"
entries=$(tar tzf "$WORK/ours.tgz" | wc -l)
[ "$entries" -eq $((FILES + 2)) ] || { echo "our archive holds $entries entries, not $((FILES + 2))" >&2; exit 1; }
for h in "$LAB_HELM_V4" "$LAB_HELM_V3" "$LAB_HELM3"; do
  "$h" show chart "$WORK/ours.tgz" >/dev/null
done
"$LAB_PYTHON" "$LAB_HELM4" show-chart "$WORK/ours.tgz" >/dev/null

printf 'ours:         %6.2f s wall, %7d KiB peak RSS, %10d bytes\n' "$ours_wall" "$ours_rss" "$ours_size"
printf 'ours (temp):  %6.2f s wall, %7d KiB peak RSS\n' "$temp_wall" "$temp_rss"
printf 'helm 4 package:    %6.2f s wall, %7d KiB peak RSS, %10d bytes  (%s)\n' "$helm_wall" "$helm_rss" "$helm_size" "$("$LAB_HELM_V4" version --short)"
printf 'helm 3 package:    %6.2f s wall, %7d KiB peak RSS  (%s)\n' "$helm3_wall" "$helm3_rss" "$("$LAB_HELM_V3" version --short)"
printf 'helm 3.10 package: %6.2f s wall, %7d KiB peak RSS\n' "$helm310_wall" "$helm310_rss"
awk -v o="$ours_wall" -v h="$helm_wall" -v h3="$helm3_wall" -v h310="$helm310_wall" 'BEGIN { if (o > 0) printf "wall-time ratio (helm / ours): Helm 4 %.2fx, Helm 3 %.2fx, helm 3.10 %.2fx\n", h / o, h3 / o, h310 / o }'
