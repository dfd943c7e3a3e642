#!/usr/bin/env bash
# Runs `flashnas bench-search` for every problem x algorithm at the issue-5 settings
# (budget 64, batch 4, 10 initial Sobol points, 10 seeds), one JSON file per run in
# OUT_DIR, then prints a table of median final log10 hypervolume gaps.
# usage: bench/search/run_bench_search.sh FLASHNAS_BINARY OUT_DIR [problems...]
set -euo pipefail
bin=${1:?flashnas binary}
out=${2:?output directory}
shift 2
problems=("$@")
[ ${#problems[@]} -eq 0 ] && problems=(branincurrin zdt1 dtlz2 arch)
mkdir -p "$out"
for problem in "${problems[@]}"; do
  for algo in nehvi random nsga2; do
    "$bin" bench-search --problem "$problem" --algo "$algo" --budget 64 --batch 4 --initial 10 --seeds 10 --json \
      > "$out/$problem-$algo.json"
  done
done
python3 - "$out" "${problems[@]}" <<'PY'
import json, sys
out, problems = sys.argv[1], sys.argv[2:]
print("| problem | nehvi | random | nsga2 | nehvi seconds/run |")
print("|---|---|---|---|---|")
for p in problems:
    row, secs = [], ""
    for a in ("nehvi", "random", "nsga2"):
        d = json.load(open(f"{out}/{p}-{a}.json"))
        row.append(f"{d['median_final_log10_hv_gap']:.2f}")
        if a == "nehvi":
            s = sorted(r["seconds"] for r in d["runs"])
            secs = f"{s[len(s) // 2]:.1f}"
    print(f"| {p} | " + " | ".join(row) + f" | {secs} |")
PY
