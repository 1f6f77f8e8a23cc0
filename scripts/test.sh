#!/usr/bin/env bash
# Runs every test and check: unit tests, the integration tests (the real handler and the compiled
# bootstrap against the local stand-in over loopback), the stand-in's route check against botocore's
# service models, then the template checks: cfn-lint on template.yaml and the consumer example, the IAM
# policy check (and its self-test), `sam validate --lint`, `sam build` of the arm64 artifact, and the
# cargo-lambda watch + invoke loop. Installs its Python tools (pinned) into .venv and .venv-sam on
# first use. Nothing contacts AWS.
#
# The slow parts overlap, since most of the test run waits on timers and two cores would otherwise
# idle: the tools install while the tests compile, and `sam build` (its own target directory, so no
# cargo lock is shared; niced, so the timing tests keep the CPU) runs while the tests do.
set -euo pipefail
set -m # background jobs get process groups of their own, so a failure can stop them whole
cd "$(dirname "$0")/.."

VENV=.venv
SAM_VENV=.venv-sam
BOTOCORE_VERSION=1.43.11
CFN_LINT_VERSION=1.51.0
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
# Most integration tests wait on a stand-in's delays or a deadline, not on the CPU.
TEST_THREADS=${TEST_THREADS:-4}

logs=$(mktemp -d)
jobs_started=()
stop_jobs() {
  for pid in "${jobs_started[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap stop_jobs EXIT
step() { echo "== $* (at ${SECONDS}s)"; }
# Waits for background job $1 (named $2, logging to $3), shows its log, fails if it failed.
finish() {
  local rc=0
  wait "$1" || rc=$?
  cat "$3"
  if [ "$rc" -ne 0 ]; then echo "$2 failed (exit $rc)"; exit "$rc"; fi
}

installed() { [ "$("$1/bin/python" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null)" = "$3" ]; }
install_tools() {
  if ! installed "$VENV" botocore "$BOTOCORE_VERSION" || ! installed "$VENV" cfn-lint "$CFN_LINT_VERSION"; then
    echo "== installing botocore $BOTOCORE_VERSION and cfn-lint $CFN_LINT_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "botocore==$BOTOCORE_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  fi
  # SAM brings its own cfn-lint, so it lives in a venv of its own; cargo-lambda brings zig for arm64.
  if ! installed "$SAM_VENV" aws-sam-cli "$SAM_VERSION" || ! installed "$SAM_VENV" cargo-lambda "$CARGO_LAMBDA_VERSION"; then
    echo "== installing aws-sam-cli $SAM_VERSION and cargo-lambda $CARGO_LAMBDA_VERSION into $SAM_VENV"
    python3 -m venv "$SAM_VENV"
    "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
  echo "Python tools ready in $VENV and $SAM_VENV"
}

sam_build() {
  echo "== sam validate --lint"
  sam validate --lint -t template.yaml
  echo "== sam build"
  local arch=arm64
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    if ! rustup target add aarch64-unknown-linux-gnu; then
      arch=x86_64
      echo "!!!!!!!! WARNING: the aarch64 standard library could not be installed on this machine."
      echo "!!!!!!!! Building the x86_64 artifact instead; deploy with --parameter-overrides Architecture=x86_64."
    fi
  fi
  CARGO_TARGET_DIR=target/sam nice -n 19 sam build --parameter-overrides "Architecture=$arch"
  "$VENV/bin/python" - "$arch" <<'PY'
import sys
want = {"arm64": 0xB7, "x86_64": 0x3E}[sys.argv[1]]
path = ".aws-sam/build/RecipeShareFunction/bootstrap"
head = open(path, "rb").read(20)
assert head[:4] == b"\x7fELF", f"{path} is not an ELF binary"
machine = int.from_bytes(head[18:20], "little")
assert machine == want, f"{path} is for machine {machine:#x}, wanted {sys.argv[1]}"
print(f"sam build: {path} is a {sys.argv[1]} ELF binary")
PY
}

step "installing the Python tools in the background"
install_tools > "$logs/tools.log" 2>&1 &
tools_pid=$!
jobs_started+=("$tools_pid")

step "cargo test --no-run (workspace: recipe-share and its stand-in)"
cargo test --workspace --all-targets --no-run

step "waiting for the Python tools"
finish "$tools_pid" "installing the Python tools" "$logs/tools.log"
export BOTOCORE_PYTHON="$PWD/$VENV/bin/python"

# SAM must not reach AWS: fake credentials, telemetry off, and any stray HTTP(S) sent to a closed port.
step "sam validate and sam build in the background"
(
  export PATH="$PWD/$SAM_VENV/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
    HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
  sam_build
) > "$logs/sam.log" 2>&1 &
sam_pid=$!
jobs_started+=("$sam_pid")

step "cargo test (workspace, $TEST_THREADS test threads)"
cargo test --workspace --all-targets -- --test-threads="$TEST_THREADS"

step "cfn-lint"
"$VENV/bin/cfn-lint" template.yaml examples/consumer.yaml
echo "cfn-lint: template.yaml and examples/consumer.yaml clean"

step "IAM policy check"
"$VENV/bin/python" scripts/check_template_policy.py --self-test template.yaml
"$VENV/bin/python" scripts/check_template_policy.py template.yaml
"$VENV/bin/python" scripts/check_template_policy.py template.yaml --consumer examples/consumer.yaml

step "cargo lambda watch + invoke (the local loop Rust Lambda developers use)"
PATH="$PWD/$SAM_VENV/bin:$PATH" bash scripts/cargo_lambda_loop.sh

step "waiting for sam build"
finish "$sam_pid" "sam validate / sam build" "$logs/sam.log"
echo "scripts/test.sh: all tests and checks passed (${SECONDS}s)"
