# Helpers for tests that run a real Prometheus (Debian's, from hack/deps.sh) against real schedkit
# binaries and check the monitoring/ dashboard and rules against it. Source from bash:
#   . tests/integration/prometheus/prom_lib.sh
# Needs: prometheus, promtool, curl, jq. Sets PROM_URL after prom_start.
MON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../monitoring" && pwd)
MON_RULES=$MON_DIR/prometheus/schedkit-rules.yaml
MON_DASHBOARD=$MON_DIR/grafana/schedkit-dashboard.json
PROM_PID=

prom_note() { echo "--- $*"; }
prom_fail() { echo "FAIL: $*" >&2; exit 1; }

prom_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# prom_start WORKDIR SCRAPE_CONFIGS_YAML: a Prometheus of our own (never the system service) on
# a free loopback port, its TSDB in WORKDIR, scraping every second, with the rules loaded.
prom_start() {
  local dir=$1 scrape=$2 port
  port=$(prom_free_port)
  mkdir -p "$dir/tsdb"
  cat >"$dir/prometheus.yml" <<YAML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ['$MON_RULES']
scrape_configs:
$scrape
YAML
  promtool check config "$dir/prometheus.yml" >/dev/null || prom_fail "promtool check config: $(promtool check config "$dir/prometheus.yml" 2>&1)"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
  PROM_PID=$!
  PROM_URL=http://127.0.0.1:$port
  local i
  for i in $(seq 100); do
    curl -fsS "$PROM_URL/-/ready" >/dev/null 2>&1 && { prom_note "prometheus ready at $PROM_URL (pid $PROM_PID)"; return 0; }
    kill -0 "$PROM_PID" 2>/dev/null || { cat "$dir/prometheus.log"; prom_fail "prometheus exited"; }
    sleep 0.2
  done
  cat "$dir/prometheus.log"; prom_fail "prometheus not ready in 20 s"
}
prom_stop() {
  [ -n "$PROM_PID" ] || return 0
  kill -TERM "$PROM_PID" 2>/dev/null || true
  wait "$PROM_PID" 2>/dev/null || true
  PROM_PID=
}

# prom_query EXPR: the /api/v1/query response (JSON); fails on an API error (bad PromQL).
prom_query() {
  local out
  out=$(curl -fsS --get "$PROM_URL/api/v1/query" --data-urlencode "query=$1" 2>&1) ||
    prom_fail "query failed: $1: $out"
  [ "$(jq -r .status <<<"$out")" = success ] || prom_fail "query error: $1: $out"
  printf '%s\n' "$out"
}
# prom_count EXPR: how many series (or 1 for a scalar) the expression returns now.
prom_count() {
  prom_query "$1" | jq -r '.data.result | if type == "array" then length else 1 end'
}
# prom_wait SECONDS EXPR: until EXPR returns something.
prom_wait() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    [ "$(prom_count "$2")" -gt 0 ] && return 0
    sleep 1
  done
  return 1
}

# The dashboard's Grafana variables, as the test substitutes them: every node, every policy.
mon_subst() {
  sed -e 's/\$__rate_interval/1m/g; s/\$__interval/15s/g; s/\$__range/5m/g' \
      -e 's/\$node/.*/g; s/\$policy/.*/g'
}
# mon_exprs: one "SOURCE<TAB>EXPR" line per dashboard target, and per rule Prometheus loaded
# (from /api/v1/rules, so what is checked is what Prometheus parsed from the rules file).
mon_exprs() {
  jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] |
         "panel \($t) [\(.refId)]\t\(.expr | gsub("\n"; " "))"' "$MON_DASHBOARD" | mon_subst
  curl -fsS "$PROM_URL/api/v1/rules" |
    jq -r '.data.groups[].rules[] | "\(.type) \(.name)\t\(.query)"'
}
# mon_var_queries: label_values(METRIC, LABEL) of the dashboard's query variables.
mon_var_queries() {
  jq -r '.templating.list[] | select(.type == "query") | "\(.name)\t\(.query.query)"' "$MON_DASHBOARD"
}
