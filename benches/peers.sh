#!/usr/bin/env bash
# The side-by-side harness of ../shared/peers (agentkit.sh), agentkit and the stdlib Python
# agent only, after `cargo build --release --example fix_issue`:
#   bash benches/peers.sh            # PEERS_DIR=target/peers, REPEATS=3, WITH_PROCS=1 adds 10 processes
# It runs agentkit with a
# chosen sandbox (AGENTKIT_SANDBOX, default local: the peers it is compared to run unconfined).
# Figures, one run on a quieter 2-core machine (load 1.7-3.9), 2026-12-07, after every merge:
#   agentkit 6.0 ms per extra step, 44.5 ms start->first request, 31.3 MB peak RSS (of the process
#   tree: pytest's; fix_issue's own VmHWM is 13.6 MB), 10 processes x 5 steps 2.5 s, 244 MB summed PSS;
#   the stdlib agent in the same run 5.1 ms, 66.2 ms, 31.4 MB, 2.1 s, 310 MB.
# A step is mostly the `bash -c` spawn: perf shows no hot spot in fix_issue (12% of the samples,
# spread over the kernel's process creation). The o200k tables no longer load for a conversation
# that fits the window in bytes (before: 1.48 s and 62 MB for the 5-step fix, after: 0.72 s, 32 MB,
# one run at load 6).
set -euo pipefail
here="${PEERS_HARNESS:-$(cd "$(dirname "$0")/../../shared/peers" && pwd)}"
bin=$(realpath "${AGENTKIT_BIN:-target/release/examples/fix_issue}")
export PEERS_DIR="${PEERS_DIR:-$PWD/target/peers}" REPEATS="${REPEATS:-3}"
export AGENTKIT_SANDBOX="${AGENTKIT_SANDBOX:-local}"
[ -d "$PEERS_DIR/venv-fixture" ] || bash "$here/setup.sh" >/dev/null
cd "$here"
export AGENT_LABEL=agentkit AGENT_CMD='T=$(mktemp -d); '"$bin"' run --repo {repo} --title "Fix mean" --body {task} --id bench --model "openai-compatible:{base}#gpt-4o-mini" --max-steps 60 --forge-dir $T/forge > $T/out.txt 2>&1; cp $T/out.txt /tmp/agentkit-last-out.txt; git -C {repo} diff HEAD agent/bench -- "*.py" | git -C {repo} apply; rm -rf $T'
python3 bench_msa.py single 5 agentkit
python3 bench_msa.py single 50 agentkit
[ -n "${WITH_PROCS:-}" ] && python3 bench_msa.py procs agentkit
export AGENT_LABEL=ref AGENT_CMD="python3 $here/ref_agent.py --base {base} --cwd {repo} --mode {mode} --task {task}"
python3 bench_msa.py single 5 toolcall
python3 bench_msa.py single 50 toolcall
[ -n "${WITH_PROCS:-}" ] && python3 bench_msa.py procs toolcall
python3 - <<'PY'
import json, os
r = os.path.join(os.environ["PEERS_DIR"], "results")
def med(n): return json.load(open(os.path.join(r, n + ".json")))["median"]
for who, a, b in (("agentkit", "agentkit_single_agentkit_5", "agentkit_single_agentkit_50"),
                  ("stdlib python agent", "ref_single_toolcall_5", "ref_single_toolcall_50")):
    m5, m50 = med(a), med(b)
    print(f"{who:22s} per extra step {(m50['wall_s'] - m5['wall_s']) / 45 * 1000:6.2f} ms   "
          f"start->1st request {m5.get('startup_to_first_request_s', 0) * 1000:7.1f} ms   "
          f"peak RSS {m5.get('max_rss_mb', 0):6.1f} MB  all_fixed5={m5.get('all_fixed', m5.get('fix_landed'))}")
PY
