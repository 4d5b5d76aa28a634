# perf/lib.sh — shell functions shared by the perf/ scripts (sourced, not run).

# listen_addr LOG PID [TRIES]: wait for the "listening on ADDR" line a server writes to LOG when
# it starts, and print ADDR. Fails, printing the log, if the server exits first or has not
# reported within TRIES × 50 ms (default 200: 10 s; a server under valgrind needs more).
listen_addr() {
  local log=$1 pid=$2 tries=${3:-200} addr=""
  for _ in $(seq 1 "$tries"); do
    addr=$(grep -o 'listening on [0-9.:]*' "$log" | head -1 | awk '{print $3}') || true
    if [ -n "$addr" ]; then
      echo "$addr"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "the server (pid $pid) did not report its address; its log ($log):" >&2
  cat "$log" >&2
  return 1
}
