#!/usr/bin/env bash
# Builds the release `bootstrap` and the `bench` example in one release build (so the bench measures the binary
# that was just built), runs the bench and leaves its tables in benches/RESULTS.md. Nothing contacts AWS: every
# server is the project's stand-in or the Runtime API emulator on 127.0.0.1. About 6-8 minutes on 2 cores with
# the dependencies built, plus 3-5 minutes for a first release build.
#
# Knobs (environment, read by examples/bench.rs):
#   BENCH_PARTS=cold,warm,calls,rss,zip,tls,sweep   which figures to measure (default: all)
#   BENCH_COLD_SPAWNS=30 BENCH_WARM_CREATES=100 BENCH_RSS_EVENTS=1000 BENCH_TLS_RUNS=10 BENCH_SWEEP_RECIPES=10000
#   BENCH_OUT=benches/RESULTS.md                     where the tables go
# The CPU-limited TLS run needs root and a cgroup cpu controller (v2 `cpu.max` or v1 `cpu.cfs_quota_us`);
# without one the table says why it was not measured. CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
echo "== cargo build --release --bin bootstrap --example bench"
cargo build --release --bin bootstrap --example bench
built=$(date +%s)

# Wherever cargo put them (CARGO_TARGET_DIR, build.target-dir, or ./target).
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
echo "== $target_dir/release/examples/bench"
BENCH_BOOTSTRAP="$target_dir/release/bootstrap" "$target_dir/release/examples/bench"
end=$(date +%s)

echo "scripts/bench.sh: build $((built - start)) s, bench $((end - built)) s, total $((end - start)) s"
