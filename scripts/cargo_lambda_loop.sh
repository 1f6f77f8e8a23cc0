#!/usr/bin/env bash
# The Rust Lambda developer's local loop, end to end: the stand-in plays AWS and the CloudFormation
# response URL, `cargo lambda watch` runs the real function, and `cargo lambda invoke` sends it a
# Create from events/. Fails unless the recipe ends shared and SUCCESS reached the response URL.
# Run by scripts/test.sh; by hand it needs cargo-lambda on PATH (pip install cargo-lambda).
# Everything listens on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
aws_port=$(free_port)
lambda_port=$(free_port)
work=$(mktemp -d)
standin_pid=""
watch_pid=""
cleanup() {
  for pid in $watch_pid $standin_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

recipe=arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0
# With the workspace's features, as the test build made it (a no-op after `cargo test`): building
# the stand-in alone would unify features differently and rebuild half the tree.
cargo test -q --workspace --all-targets --no-run
target/debug/standin --port "$aws_port" --recipe "$recipe" > "$work/standin.log" 2>&1 &
standin_pid=$!

# An env file, since SHARE_PRINCIPALS holds commas (cargo lambda's --env-var splits on them).
cat > "$work/env" <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$aws_port
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_EC2_METADATA_DISABLED=true
SHARE_PRINCIPALS=111122223333,444455556666
EXTRA_RESPONSE_URL_PREFIX=http://127.0.0.1:$aws_port/cfn-response/
RUST_LOG=info
EOF
cargo lambda watch -A 127.0.0.1 -P "$lambda_port" --ignore-changes --env-file "$work/env" > "$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 240); do
  (exec 3<>"/dev/tcp/127.0.0.1/$lambda_port") 2>/dev/null && break
  sleep 0.5
done

python3 - "$aws_port" "$work/event.json" <<'PY'
import json, sys
event = json.load(open("events/cfn-create.json"))
event["ResponseURL"] = f"http://127.0.0.1:{sys.argv[1]}/cfn-response/cargo-lambda?X-Amz-Signature=local"
json.dump(event, open(sys.argv[2], "w"))
PY
if ! out=$(timeout 300 cargo lambda invoke -A 127.0.0.1 -P "$lambda_port" --data-file "$work/event.json" bootstrap 2>&1); then
  echo "cargo lambda invoke failed: $out"; tail -40 "$work/watch.log"; exit 1
fi
echo "cargo lambda invoke: $out"
echo "$out" | tr -d ' \n' | grep -q '"Status":"SUCCESS"' || { echo "the function did not answer SUCCESS"; tail -40 "$work/watch.log"; exit 1; }
sleep 0.5
for op in PromoteResourceShareCreatedFromPolicy TagResource CfnResponse; do
  grep -q -- "-> $op" "$work/standin.log" || { echo "the stand-in saw no $op"; cat "$work/standin.log"; exit 1; }
done
echo "cargo lambda watch + invoke: the recipe was shared and CloudFormation got SUCCESS"
