#!/usr/bin/env bash
# The mock upstream measured beside nginx answering `return 200;` (it reads nothing and stores
# nothing: the ceiling of an HTTP server on this machine), under the same load, in alternating
# rounds: `harness load-upstream --compare-url`. Extra arguments go to load-upstream, e.g.
#
#   ci/upstream-vs-nginx.sh --concurrency 64 --requests 20000 --payload-kb 10 --rounds 5
#
# HARNESS names the binary (default target/release/harness). nginx: apt-get install nginx-light.
set -euo pipefail
cd "$(dirname "$0")/.."
harness=${HARNESS:-target/release/harness}
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
[ -x "$harness" ] || { echo "needs $harness (cargo build --release -p harness)" >&2; exit 2; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/tmp"
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    client_max_body_size 16m;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "{}"; }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
done
"$harness" load-upstream --data-dir "$work/upstream" --compare-url "http://127.0.0.1:$port" "$@"
