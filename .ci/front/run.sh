#!/usr/bin/env bash
# CI checks with real frontend clients (issue 14), against the built
# gateway binary on 127.0.0.1 with its built-in sandbox:
#   - Apollo Client's @defer incremental handler over multipart/mixed
#   - GraphiQL in Debian's Chromium, driven by playwright-core
#   - the TypeScript example: codegen, tsc, then run
# Run from the repository root by .ci/run. Screenshots go to .ci/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not installed: skipping the frontend client checks"
  exit 0
fi
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium missing and not root: the browser check will fail" >&2
  fi
fi

npm ci --prefix .ci/front --no-audit --no-fund --loglevel=error
npm ci --prefix examples/typescript --no-audit --no-fund --loglevel=error

mkdir -p .ci/artifacts
go build -o .ci/artifacts/gateway ./cmd/gateway
out=.ci/artifacts/gateway.out
# A free port for the browser check's page of another origin, which the
# gateway allows (CORS with a real client).
PAGE_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export PAGE_PORT
.ci/artifacts/gateway -addr 127.0.0.1:0 -cors-origins "http://127.0.0.1:$PAGE_PORT" >"$out" 2>&1 &
gw=$!
trap 'kill "$gw" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q 'http://127.0.0.1:[0-9]*/graphql' "$out" && grep -qi 'token' "$out" && break
  kill -0 "$gw" 2>/dev/null || { cat "$out" >&2; echo "the gateway exited" >&2; exit 1; }
  sleep 0.1
done
GATEWAY_URL=$(grep -o 'http://127.0.0.1:[0-9]*/graphql' "$out" | head -1)
GATEWAY_TOKEN=$(grep -i 'token' "$out" | grep -o 'eyJ[A-Za-z0-9._-]*' | head -1)
GATEWAY_ROOT=${GATEWAY_URL%/graphql}/
if [ -z "$GATEWAY_URL" ] || [ -z "$GATEWAY_TOKEN" ]; then
  cat "$out" >&2; echo "no endpoint or sandbox token in the gateway's start-up output" >&2; exit 1
fi
export GATEWAY_URL GATEWAY_TOKEN GATEWAY_ROOT

echo "-- @defer with Apollo Client"
node .ci/front/defer.mjs
echo "-- GraphiQL in Chromium"
node .ci/front/browser.mjs
echo "-- TypeScript example (codegen, tsc, run)"
(cd examples/typescript && node codegen.mjs && npx tsc && node dist/client.js)
