#!/usr/bin/env bash
# The README's Quick start, run as a user runs it: `npm start` with the embedded database (no
# DATABASE_URL, a data dir of its own, a free port), then the `npx webhook-router` commands in a
# second "terminal" until stats shows the queued jobs completed and the Inngest events the stack
# recorded, then Ctrl-C. Each step passes or fails by name; the counts go to .ci/out/quickstart.json
# for the summary line of .ci/run. Run from the repository root after `npm ci`.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .ci/out
log=.ci/out/quickstart.log
stack_log=.ci/out/quickstart-stack.log
: >"$log"
rm -f .ci/out/quickstart.json

passed=0
failed=0
steps=()
pass() { passed=$((passed + 1)); steps+=("{\"step\":\"$1\",\"ok\":true}"); echo "quickstart: ok   $1" | tee -a "$log"; }
fail() {
  failed=$((failed + 1)); steps+=("{\"step\":\"$1\",\"ok\":false}")
  echo "quickstart: FAIL $1: $2" | tee -a "$log"
}

data_dir=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# What a fresh user has: none of CI's database, Inngest or GitHub settings.
user_env=(env -u DATABASE_URL -u SUPABASE_DB_URL -u INNGEST_EVENT_KEY -u INNGEST_BASE_URL -u GITHUB_WEBHOOK_SECRET
  -u VITE_SUPABASE_URL -u SUPABASE_SERVICE_ROLE_KEY WEBHOOK_ROUTER_DATA_DIR="$data_dir" PORT="$port")
cli() { "${user_env[@]}" npx webhook-router "$@" 2>&1 | tee -a "$log"; return "${PIPESTATUS[0]}"; }

finish() {
  local status=0
  [ "$failed" -eq 0 ] || status=1
  printf '{"passed":%d,"failed":%d,"steps":[%s]}\n' "$passed" "$failed" "$(IFS=,; echo "${steps[*]}")" >.ci/out/quickstart.json
  echo "quickstart: $passed passed, $failed failed (stack output: $stack_log)"
  rm -rf "$data_dir"
  exit "$status"
}

# 1. npm start, in its own process group so Ctrl-C can be sent to it as a terminal sends it.
"${user_env[@]}" setsid npm start >"$stack_log" 2>&1 &
npm_pid=$!
ready=""
for _ in $(seq 1 120); do
  if [ -f "$data_dir/stack.json" ] && node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1])).ready ? 0 : 1)' "$data_dir/stack.json" 2>/dev/null &&
    node -e 'fetch(process.argv[1]).then(() => process.exit(0), () => process.exit(1))' "http://127.0.0.1:$port/"; then
    ready=yes
    break
  fi
  kill -0 "$npm_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -n "$ready" ] && grep -q "webhook-router local stack" "$stack_log" && grep -q "PGlite (embedded)" "$stack_log"; then
  pass "npm start serves the stack with the embedded database"
elif ! kill -0 "$npm_pid" 2>/dev/null; then
  wait "$npm_pid"
  fail "npm start serves the stack with the embedded database" "npm start exited ($?) without serving; its output: $(tr '\n' ' ' <"$stack_log" | cut -c1-400)"
  finish
else
  fail "npm start serves the stack with the embedded database" "not serving on port $port within 60 s (see $stack_log)"
  kill -TERM -- "-$npm_pid" 2>/dev/null
  finish
fi
stack_pid=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).pid)' "$data_dir/stack.json")

# 2–4. The Quick start's commands, verbatim.
if out=$(cli seed --repo acme/widgets --workspaces 12) && grep -q "seeded acme/widgets .* in 12 active workspaces" <<<"$out"; then
  pass "npx webhook-router seed --repo acme/widgets --workspaces 12"
else
  fail "npx webhook-router seed --repo acme/widgets --workspaces 12" "$out"
fi
for event in push repository; do
  if out=$(cli send "$event" --repo acme/widgets) && grep -q "^202 $event delivery " <<<"$out"; then
    pass "npx webhook-router send $event --repo acme/widgets → 202"
  else
    fail "npx webhook-router send $event --repo acme/widgets → 202" "$out"
  fi
done

# 5. stats --json until both jobs are completed and the 24 events they sent are visible (a push
# waits for its debounce and the stack's timer: up to about a minute).
check_stats='
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const job = (t) => s.jobs.find((j) => j.type === t) || {};
  const e = s.events || { byName: {} };
  const done = job("webhook/push").completed === 1 && job("webhook/repository").completed === 1 &&
    e.byName["workspace.metrics.aggregate"] === 12 && e.byName["workspace.repository.changed"] === 12;
  console.log(JSON.stringify({ push: job("webhook/push"), repository: job("webhook/repository"), events: e.byName }));
  process.exit(done ? 0 : 1);'
stats_ok=""
for _ in $(seq 1 60); do
  json=$("${user_env[@]}" npx webhook-router stats --json 2>>"$log")
  if last=$(node -e "$check_stats" <<<"$json" 2>&1); then
    stats_ok=yes
    break
  fi
  sleep 2
done
echo "last stats: $last" >>"$log"
if [ -n "$stats_ok" ]; then
  pass "npx webhook-router stats --json: push and repository jobs completed, 12 + 12 events recorded"
else
  fail "npx webhook-router stats --json: jobs completed and events recorded" "not within 120 s; last: $last"
fi
if out=$(cli stats) && grep -q "Inngest events recorded by the local stack (no INNGEST_EVENT_KEY): 24" <<<"$out"; then
  pass "npx webhook-router stats shows the recorded events"
else
  fail "npx webhook-router stats shows the recorded events" "$(tail -5 <<<"$out")"
fi

# 6. Ctrl-C: SIGINT to the process group, as a terminal sends it.
kill -INT -- "-$npm_pid"
wait "$npm_pid"
code=$?
if [ "$code" -eq 0 ] && [ ! -e "$data_dir/stack.json" ] && ! kill -0 "$stack_pid" 2>/dev/null; then
  pass "Ctrl-C stops it cleanly (npm exits 0, stack.json removed, no process left)"
else
  fail "Ctrl-C stops it cleanly" "npm exited $code; stack.json $([ -e "$data_dir/stack.json" ] && echo left || echo removed); stack process $(kill -0 "$stack_pid" 2>/dev/null && echo still running || echo gone)"
  kill -KILL "$stack_pid" 2>/dev/null
fi
finish
