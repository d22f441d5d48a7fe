#!/usr/bin/env bash
# Points schemathesis at a live mock upstream: every answer must match the API description the
# server serves at /openapi.json (status documented, content type, body schema), no 5xx, and no
# request may hang. Client routes run with a hierarchy token, the admin routes that read with the
# admin token; the routes that program faults or reset the service are left out (they change what
# the other answers are). Usage: ci/api-conformance.sh PATH-TO-harness [MAX-EXAMPLES]
set -euo pipefail
harness="$(realpath "$1")"
examples="${2:-50}"
data="$(mktemp -d)"
out="$data/serve.out"
"$harness" upstream --listen 127.0.0.1:0 --data-dir "$data/store" --admin-token admin >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do
    grep -q '^listening on ' "$out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$out" | head -1)"
token="$(python3 - "$url" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(
    sys.argv[1] + "/admin/hierarchies",
    data=json.dumps({"hierarchy_id": "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA="}).encode(),
    headers={"Authorization": "Bearer admin", "Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request))["token"])
PY
)"
# schemathesis keeps a cache in the working directory: not in the repository.
cd "$data"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
common=(--checks "$checks" --max-examples "$examples" --request-timeout 15 --max-response-time 15 --no-color)
python3 -m schemathesis.cli run "$url/openapi.json" -H "Authorization: Bearer $token" --include-path-regex '^/(v1|metrics|healthz)' "${common[@]}"
python3 -m schemathesis.cli run "$url/openapi.json" -H "Authorization: Bearer admin" --include-path-regex '^/admin/(hierarchies|uploads|requests)' "${common[@]}"
