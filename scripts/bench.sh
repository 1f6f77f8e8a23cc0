#!/usr/bin/env bash
# The benchmarks of issues 6 and 7: builds the release `bootstrap` and the `bench` example in one
# release build, runs the bench (cold start, events end to end, peak RSS, AWS calls per Create, zip
# size, a CPU-limited cold start, the 10,000-recipe reconcile sweep against a rate-limited
# stand-in), and writes and prints benches/RESULTS.md. Nothing contacts AWS: every server is the
# local stand-in or the Runtime API emulator on 127.0.0.1.
#
# Knobs (environment, see examples/bench.rs): BENCH_PARTS=cold,warm,throttled,sweep,zip,
# BENCH_SWEEP_RECIPES, BENCH_SWEEP_RATE, BENCH_LATENCY_MS, ... The CPU-limited part needs root and
# a writable cgroup cpu controller; without one it reports "not measured".
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
echo "== cargo build --release --bin bootstrap --example bench"
cargo build --release --bin bootstrap --example bench
built=$(date +%s)

echo "== target/release/examples/bench"
BENCH_BOOTSTRAP="$PWD/target/release/bootstrap" target/release/examples/bench
end=$(date +%s)

echo "scripts/bench.sh: build $((built - start)) s, bench $((end - built)) s, total $((end - start)) s"
