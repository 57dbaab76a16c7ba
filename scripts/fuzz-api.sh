#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API with schemathesis (issue 13): starts a fresh
# release sutra-node on port 0 with its own data directory, runs
# `schemathesis run http://HOST/openapi.json --checks all` against it, then checks that
# the node is still alive and ready and logged no panic. Exits non-zero on any failure.
#
#   scripts/fuzz-api.sh                  # 50 examples per operation, seed 1
#   FUZZ_EXAMPLES=200 FUZZ_SEED=7 scripts/fuzz-api.sh
#
# Needs python3 with venv; schemathesis is installed by package name with pip into a
# throw-away venv (FUZZ_VENV, default target/fuzz-venv, reused by later runs).
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${FUZZ_EXAMPLES:-50}
seed=${FUZZ_SEED:-1}
venv=${FUZZ_VENV:-target/fuzz-venv}

cargo build --release --bin sutra-node
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet schemathesis
fi

work=$(mktemp -d)
node_pid=""
cleanup() {
    if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

embedders=()
model_dir=${SUTRA_MODEL_DIR:-models/minilm}
if [ ! -f "$model_dir/manifest.json" ]; then
    echo "fuzz-api: no embedding model in $model_dir (python3 scripts/setup-model.py); fuzzing with --embedders 0" >&2
    embedders=(--embedders 0)
fi
SUTRA_LOG=${SUTRA_LOG:-warn} SUTRA_MODEL_DIR="$model_dir" ./target/release/sutra-node \
    --http 127.0.0.1:0 --data-dir "$work/data" "${embedders[@]}" \
    >"$work/stdout" 2>"$work/stderr" &
node_pid=$!
for _ in $(seq 600); do
    grep -q "http listening on" "$work/stdout" && break
    kill -0 "$node_pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
    sleep 0.1
done
base=$(sed -n 's/^http listening on //p' "$work/stdout")
[ -n "$base" ] || { echo "fuzz-api: the node did not start" >&2; exit 1; }
echo "fuzz-api: node at $base; schemathesis with $examples examples per operation, seed $seed"

status=0
# Run from the work directory: schemathesis keeps its example database in ./.schemathesis.
config="$PWD/scripts/schemathesis.toml"
venv_abs=$(cd "$venv" && pwd)
(cd "$work" && "$venv_abs/bin/schemathesis" --config-file "$config" run "$base/openapi.json" \
    --checks all --max-examples "$examples" --seed "$seed" --request-timeout 20 \
    --report junit --report-dir "$work/report") || status=$?

# The node must have survived everything it was sent.
if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "fuzz-api: FAILED: the node exited during the run" >&2; cat "$work/stderr" >&2; exit 1
fi
ready=$(curl -s -o /dev/null -w '%{http_code}' "$base/ready" || true)
if [ "$ready" != "200" ]; then
    echo "fuzz-api: FAILED: /ready answered $ready after the run" >&2; exit 1
fi
if grep -q "panicked" "$work/stderr"; then
    echo "fuzz-api: FAILED: the node logged a panic:" >&2; grep -A3 "panicked" "$work/stderr" >&2; exit 1
fi
echo "fuzz-api: node alive and ready after the run; schemathesis exit status $status"
exit "$status"
