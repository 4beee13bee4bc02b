#!/bin/bash
# The read-only metrics listener ([daemon] metrics_listen = 127.0.0.1:0):
# GET and HEAD /metrics answer the control socket's text, clean by
# promtool; every other path is 404 and every other method 405, so no
# control operation is reachable; malformed, over-long and slow requests
# get their error and the daemon serves on; a reload moves or closes the
# listener. Then Debian's real Prometheus scrapes it and its own query API
# returns the daemon's series.
. "$(dirname "$0")/lib.sh"

certs
DEVICES="[device sim0]
backend = sim
size = 4M
image = @DIR@/sim0.img"
EXTRA_DAEMON="metrics_listen = 127.0.0.1:0"
write_config a host-a
start_daemon a

M=$(api a GET /v1/health | json_get metrics_listen)
case $M in
127.0.0.1:[1-9]*) ;;
*) fail "GET /v1/health: metrics_listen is '$M': $(api a GET /v1/health)" ;;
esac
grep -q "metrics on http://$M/metrics" "$T/a.log" || fail "the bound address is not in the log"
pass "metrics_listen = 127.0.0.1:0 bound $M, shown in /v1/health and the log"

# http METHOD PATH: curl on the metrics port (the path as it is, no URL
# globbing: [::1] is an address); the body into $T/body, the headers into
# $T/headers, the status printed.
http() {
	curl -gsS --path-as-is -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$1" "http://$M$2" ||
		fail "curl $1 $2 on $M"
}
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | head -n 1; }

[ "$(http GET /metrics)" = 200 ] || fail "GET /metrics: $(cat "$T/headers")"
[ "$(header Content-Type)" = "text/plain; version=0.0.4; charset=utf-8" ] ||
	fail "Content-Type: $(header Content-Type)"
cp "$T/body" "$T/tcp-metrics"
grep -q '^vfio_migd_build_info{version="[^"]*"} 1$' "$T/tcp-metrics" || fail "no build_info"
grep -q '^vfio_migd_device_state{device="sim0",backend="sim",state="running"} 1$' "$T/tcp-metrics" ||
	fail "no device state: $(grep device_state "$T/tcp-metrics")"
api a GET /metrics >"$T/unix-metrics" || fail "GET /metrics on the control socket"
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }
[ "$(series "$T/tcp-metrics")" = "$(series "$T/unix-metrics")" ] ||
	fail "not the control socket's series: $(diff <(series "$T/unix-metrics") <(series "$T/tcp-metrics"))"
if command -v promtool >/dev/null; then
	out=$(promtool check metrics <"$T/tcp-metrics" 2>&1) && [ -z "$out" ] ||
		fail "promtool check metrics: $out"
	lint="promtool check metrics silent"
else
	lint="promtool missing, not linted"
fi
[ "$(http GET '/metrics?name=x')" = 200 ] || fail "GET /metrics with a query"
pass "GET /metrics 200 with the control socket's $(series "$T/tcp-metrics" | wc -l) series ($lint)"

for p in / /v1/health /v1/devices /v1/devices/sim0 /v1/migrations /v1/events /metrics/ /metricsx \
	'/v1/../metrics' /METRICS; do
	st=$(http GET "$p")
	[ "$st" = 404 ] || fail "GET $p: $st, wanted 404"
	grep -q '^404 Not Found: this listener serves GET /metrics only$' "$T/body" ||
		fail "GET $p: body $(cat "$T/body")"
done
for m in POST PUT DELETE PATCH OPTIONS; do
	for p in /metrics /v1/migrations /v1/devices/sim0/incoming /v1/migrations/x/cancel; do
		st=$(http "$m" "$p")
		[ "$st" = 405 ] || fail "$m $p: $st, wanted 405"
		[ "$(header Allow)" = "GET, HEAD" ] || fail "$m $p: Allow: $(header Allow)"
	done
done
st=$(curl -gsS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"device":"sim0","destination":"127.0.0.1:1","token":"x"}' "http://$M/v1/migrations")
[ "$st" = 405 ] || fail "POST /v1/migrations with a body: $st"
[ "$(api a GET /v1/migrations)" = '{"migrations":[]}' ] ||
	fail "a migration exists: $(api a GET /v1/migrations)"
[ "$(device_state a sim0)" = running ] || fail "sim0 is $(device_state a sim0)"
pass "other paths 404, other methods 405 (Allow: GET, HEAD); nothing started through the port"

# raw BYTES...: sent as one write (printf %b escapes) on a connection of
# its own; prints everything the daemon answers until it closes (30 s).
cat >"$T/raw.py" <<'PY'
import socket, sys

host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
s.sendall(sys.stdin.buffer.read())
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except ConnectionResetError:
    out += b"\n<reset>"
sys.stdout.write(out.decode("latin-1"))
PY
raw() { python3 "$T/raw.py" "$M"; }
status_line() { head -n 1 | tr -d '\r'; }

# HEAD: GET's headers, no body (the daemon closes after it: nothing follows).
printf 'HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n' | raw >"$T/head"
[ "$(status_line <"$T/head")" = "HTTP/1.1 200 OK" ] || fail "HEAD /metrics: $(head -n 1 "$T/head")"
len=$(tr -d '\r' <"$T/head" | sed -n 's/^Content-Length: //p')
[ "$len" -gt 1000 ] || fail "HEAD: Content-Length $len"
[ "$(tr -d '\r' <"$T/head" | sed '1,/^$/d' | wc -c)" = 0 ] || fail "HEAD /metrics has a body"
pass "HEAD /metrics 200, Content-Length $len, no body"

long=$(head -c 9000 /dev/zero | tr '\0' a)
st=$(printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$long" | raw | status_line)
[ "$st" = "HTTP/1.1 414 URI Too Long" ] || fail "a 9000-byte request line: $st"
st=$(printf 'GET /metrics HTTP/1.1\r\nX-Big: %s\r\n\r\n' "$long" | raw | status_line)
[ "$st" = "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "a 9000-byte header: $st"
for bad in 'HELLO\r\n\r\n' 'GET  /metrics HTTP/1.1\r\n\r\n' 'GET /metrics HTTP/1.1\r\nno colon\r\n\r\n' \
	'GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n' 'GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n' \
	'GET /metrics\r\n\r\n' '\x00\x01\x02\r\n\r\n'; do
	st=$(printf "$bad" | raw | status_line)
	[ "$st" = "HTTP/1.1 400 Bad Request" ] || fail "request '$bad': $st"
done
st=$(printf 'GET /metrics HTTP/2.0\r\n\r\n' | raw | status_line)
[ "$st" = "HTTP/1.1 505 HTTP Version Not Supported" ] || fail "HTTP/2.0: $st"
# Two requests in one write on a kept-alive connection: two answers.
out=$(printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n' | raw)
[ "$(printf '%s' "$out" | grep -c '^HTTP/1.1 200 OK')" = 2 ] || fail "pipelined: $(printf '%s' "$out" | grep '^HTTP')"
printf '%s' "$out" | grep -q '^Connection: close' || fail "pipelined: no Connection: close on the last answer"
# HTTP/1.0 without keep-alive: the answer, then the daemon closes.
out=$(printf 'GET /metrics HTTP/1.0\r\n\r\n' | raw)
[ "$(printf '%s' "$out" | status_line)" = "HTTP/1.1 200 OK" ] || fail "HTTP/1.0: $(printf '%s' "$out" | head -n 1)"
pass "over-long line 414, over-large head 431, malformed 400, HTTP/2.0 505; pipelined and HTTP/1.0 requests answered"

# A client that starts a request and stops: 408 within the request timeout.
t0=$(date +%s)
st=$(printf 'GET /metr' | raw | status_line)
[ "$st" = "HTTP/1.1 408 Request Timeout" ] || fail "a stalled request: $st after $(($(date +%s) - t0)) s"
pass "a stalled request is answered 408 after $(($(date +%s) - t0)) s"

# Sixteen idle connections at once: the seventeenth is closed unanswered,
# and once they are gone the port serves again.
cat >"$T/flood.py" <<'PY'
import socket, sys

host, port = sys.argv[1].rsplit(":", 1)
# The daemon accepts in the order they came: these sixteen first.
idle = [socket.create_connection((host, int(port)), timeout=30) for _ in range(16)]
extra = socket.create_connection((host, int(port)), timeout=30)
extra.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
try:
    print("answered" if extra.recv(100) else "closed")
except ConnectionResetError:
    print("closed")
PY
st=$(python3 "$T/flood.py" "$M") || fail "flood: $st"
[ "$st" = closed ] || fail "a 17th connection was $st"
[ "$(grep -c "metrics listener $M: 16 connections open, closing new ones" "$T/a.log")" = 1 ] ||
	fail "the limit is not in the log once: $(grep "metrics listener" "$T/a.log")"
i=0
until [ "$(curl -gs -o /dev/null -w '%{http_code}' "http://$M/metrics")" = 200 ]; do
	[ $i -lt 100 ] || fail "the port does not serve after the idle connections closed"
	sleep 0.1
	i=$((i + 1))
done
[ "$(ctl a --json health | json_get status)" = ok ] || fail "health after the abuse"
pass "16 connections at most (the 17th closed, said once in the log); serving again after"

# reload_a: SIGHUP, until the daemon has said it reloaded once more.
reload_a() {
	n=$(grep -c 'reloaded: ' "$T/a.log")
	kill -HUP "$PID_a"
	i=0
	until [ "$(grep -c 'reloaded: ' "$T/a.log")" -gt "$n" ]; do
		[ $i -lt 100 ] || fail "no reload in the log: $(tail -n 3 "$T/a.log")"
		sleep 0.1
		i=$((i + 1))
	done
}
set_metrics_listen() {
	sed -i '/^metrics_listen =/d' "$T/a.conf"
	[ -z "$1" ] || sed -i "s|^\[daemon\]$|[daemon]\nmetrics_listen = $1|" "$T/a.conf"
}
reachable() { curl -gs -o /dev/null "http://$1/metrics"; }

if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	other="[::1]:0"
else
	other="127.0.0.2:0"
fi
old=$M
set_metrics_listen "$other"
reload_a
M=$(api a GET /v1/health | json_get metrics_listen)
[ "$M" != "$old" ] && [ -n "$M" ] || fail "after the reload metrics_listen is '$M'"
[ "$(http GET /metrics)" = 200 ] || fail "GET /metrics on the new address $M"
! reachable "$old" || fail "the old address $old still answers"
grep -q "metrics listener $old closed" "$T/a.log" || fail "the old listener's closing is not in the log"
set_metrics_listen "192.0.2.1:0"
reload_a
grep -q "reload: metrics_listen 192.0.2.1:0 cannot be bound; the listener stays where it was" "$T/a.log" ||
	fail "an unbindable address on reload: $(tail -n 3 "$T/a.log")"
[ "$(api a GET /v1/health | json_get metrics_listen)" = "$M" ] || fail "the listener moved to nowhere"
reachable "$M" || fail "the listener on $M went away after a failed move"
set_metrics_listen ""
reload_a
api a GET /v1/health | grep -q '"metrics_listen":null' || fail "no listener, but $(api a GET /v1/health)"
! reachable "$M" || fail "$M still answers with metrics_listen removed"
set_metrics_listen "127.0.0.1:0"
reload_a
M=$(api a GET /v1/health | json_get metrics_listen)
[ "$(http GET /metrics)" = 200 ] || fail "GET /metrics on $M after the listener came back"
pass "reload: moved to $other, kept when the new address cannot be bound, closed when removed, back again"

# Prometheus itself scrapes the port: its query API returns the series.
command -v prometheus >/dev/null || {
	echo "prometheus is missing (Debian package prometheus; ./dev.sh installs it): the scrape by a real Prometheus is skipped"
	exit 77
}
mkdir -p "$T/prom"
cat >"$T/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vfio-migd
    static_configs:
      - targets: ['$M']
YML
# Port 0: Prometheus binds a free port; the test reads it off /proc.
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address=127.0.0.1:0 >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS="$PIDS $PROM_PID"
i=0
until PP=$(pid_listen_port "$PROM_PID") && [ -n "$PP" ]; do
	[ $i -lt 600 ] || fail "prometheus did not listen within 60 s: $(tail -n 5 "$T/prometheus.log")"
	kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited: $(tail -n 5 "$T/prometheus.log")"
	sleep 0.1
	i=$((i + 1))
done
query='vfio_migd_device_state{device="sim0",state="running"}'
t0=$(date +%s)
i=0
until out=$(curl -s -G --data-urlencode "query=$query" "http://127.0.0.1:$PP/api/v1/query") &&
	printf '%s' "$out" | grep -q "\"instance\":\"$M\"" ; do
	[ $i -lt 1200 ] || fail "no $query in Prometheus after 120 s: $out $(tail -n 5 "$T/prometheus.log")"
	kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited: $(tail -n 5 "$T/prometheus.log")"
	sleep 0.1
	i=$((i + 1))
done
printf '%s' "$out" | grep -q '"value":\[[0-9.]*,"1"\]' || fail "the series' value: $out"
targets=$(curl -s "http://127.0.0.1:$PP/api/v1/targets")
printf '%s' "$targets" | grep -q '"health":"up"' || fail "the target is not up: $targets"
printf '%s' "$targets" | grep -q '"lastError":""' || fail "the target's last scrape failed: $targets"
pass "Prometheus $(prometheus --version 2>&1 | sed -n '1s/.*version \([^ ]*\).*/\1/p') on 127.0.0.1:$PP scraped $M: $query = 1 after $(($(date +%s) - t0)) s, target up"
kill "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
[ "$(ctl a --json health | json_get status)" = ok ] || fail "health after the scrapes"
