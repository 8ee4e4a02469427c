#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers: every target in fuzz/fuzz_targets
# runs for SECONDS_PER_TARGET (default 60), seeded from fuzz/seeds/TARGET
# (and, for the chart targets, from a chart `helm create` makes when a helm
# is at hand). Findings land in fuzz/artifacts/TARGET; the run fails if any
# target finds a crash, a timeout or a memory blow-up.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz; installs them when missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$here/fuzz"
seconds=${1:-60}
shift || true
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$fuzz"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi
# A target file without its [[bin]] entry would not build: say so plainly.
listed=$(cd "$fuzz" && cargo +nightly fuzz list)
for t in "${targets[@]}"; do
    if ! grep -qx "$t" <<<"$listed"; then
        echo "fuzz target $t has no [[bin]] entry in fuzz/Cargo.toml; add one" >&2
        exit 2
    fi
done

# Real charts as extra seeds, made fresh (nothing of Helm's is committed).
helm=${LAB_HELM3:-$(command -v helm || true)}
extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
if [ -n "$helm" ] && [ -x "$helm" ]; then
    (
        cd "$extra"
        HELM_CONFIG_HOME="$extra/h" HELM_CACHE_HOME="$extra/h" HELM_DATA_HOME="$extra/h" \
            "$helm" create real >/dev/null
        HELM_CONFIG_HOME="$extra/h" HELM_CACHE_HOME="$extra/h" HELM_DATA_HOME="$extra/h" \
            "$helm" package real -d pkg >/dev/null
    ) || true
fi
seed_extra() {
    local t=$1 dir=$2
    case "$t" in
    chart_yaml) [ -f "$extra/real/Chart.yaml" ] && cp "$extra/real/Chart.yaml" "$dir/helm-create-Chart.yaml" ;;
    values_yaml) [ -f "$extra/real/values.yaml" ] && cp "$extra/real/values.yaml" "$dir/helm-create-values.yaml" ;;
    helmignore) [ -f "$extra/real/.helmignore" ] && cp "$extra/real/.helmignore" "$dir/helm-create.helmignore" ;;
    chart_archive) compgen -G "$extra/pkg/*.tgz" >/dev/null && cp "$extra"/pkg/*.tgz "$dir/" ;;
    esac
    return 0
}

failed=()
for t in "${targets[@]}"; do
    corpus="$fuzz/corpus/$t"
    mkdir -p "$corpus" "$fuzz/artifacts/$t"
    seed_extra "$t" "$corpus"
    seeds=()
    [ -d "$fuzz/seeds/$t" ] && seeds=("$fuzz/seeds/$t")
    echo "== $t: ${seconds}s"
    # -timeout: one input taking longer is a finding (a quadratic parse);
    # -rss_limit_mb: so is a memory blow-up.
    if ! (cd "$fuzz" && cargo +nightly fuzz run "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$fuzz/artifacts/$t/" -print_final_stats=1); then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing clean: ${targets[*]} (${seconds}s each)"
