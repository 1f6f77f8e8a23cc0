#!/usr/bin/env bash
# Runs every test and check: unit tests, the integration tests (the real handler and the compiled
# bootstrap against the local stand-in over loopback), the stand-in's route check against botocore's
# service models, and cfn-lint on the template. Installs its Python tools into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
BOTOCORE_VERSION=1.43.11
CFN_LINT_VERSION=1.51.0
if ! "$VENV/bin/python" -c "import botocore, cfnlint" >/dev/null 2>&1 \
  || [ "$("$VENV/bin/python" -c 'import botocore; print(botocore.__version__)')" != "$BOTOCORE_VERSION" ]; then
  echo "== installing botocore $BOTOCORE_VERSION and cfn-lint $CFN_LINT_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "botocore==$BOTOCORE_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi
export BOTOCORE_PYTHON="$PWD/$VENV/bin/python"

echo "== cargo test (workspace: recipe-share and its stand-in)"
cargo test --workspace --all-targets

echo "== cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
echo "cfn-lint: template.yaml clean"
