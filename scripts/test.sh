#!/usr/bin/env bash
# Runs every test and check: unit tests, the integration tests (the real handler and the compiled
# bootstrap against the local stand-in over loopback), the stand-in's route check against botocore's
# service models, then the template checks: cfn-lint on template.yaml and the consumer example, the IAM
# policy check (and its self-test), `sam validate --lint`, and `sam build` of the arm64 artifact.
# Installs its Python tools (pinned) into .venv and .venv-sam on first use. Nothing contacts AWS.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
SAM_VENV=.venv-sam
BOTOCORE_VERSION=1.43.11
CFN_LINT_VERSION=1.51.0
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2

installed() { [ "$("$1/bin/python" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null)" = "$3" ]; }

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
export BOTOCORE_PYTHON="$PWD/$VENV/bin/python"

echo "== cargo test (workspace: recipe-share and its stand-in)"
cargo test --workspace --all-targets

echo "== cfn-lint"
"$VENV/bin/cfn-lint" template.yaml examples/consumer.yaml
echo "cfn-lint: template.yaml and examples/consumer.yaml clean"

echo "== IAM policy check"
"$VENV/bin/python" scripts/check_template_policy.py --self-test template.yaml
"$VENV/bin/python" scripts/check_template_policy.py template.yaml
"$VENV/bin/python" scripts/check_template_policy.py template.yaml --consumer examples/consumer.yaml

# SAM must not reach AWS: fake credentials, telemetry off, and any stray HTTP(S) sent to a closed port.
export PATH="$PWD/$SAM_VENV/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
echo "== sam validate --lint"
sam validate --lint -t template.yaml

echo "== sam build"
arch=arm64
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  if ! rustup target add aarch64-unknown-linux-gnu; then
    arch=x86_64
    echo "!!!!!!!! WARNING: the aarch64 standard library could not be installed on this machine."
    echo "!!!!!!!! Building the x86_64 artifact instead; deploy with --parameter-overrides Architecture=x86_64."
  fi
fi
sam build --parameter-overrides "Architecture=$arch"
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

echo "== cargo lambda watch + invoke (the local loop Rust Lambda developers use)"
bash scripts/cargo_lambda_loop.sh
echo "scripts/test.sh: all tests and checks passed"
