#!/usr/bin/env bash
# Runs `flashnas bench-search` for every problem x algorithm once at budget 100 (batch 4,
# 10 initial points, 10 seeds), one JSON file per problem and algorithm in OUT_DIR, then
# prints (budget_table.py) the median log10 hypervolume gap at budgets 24 .. 100 read off
# those runs, the seconds per run, and median (min .. max) at budget 64 (issue 5's table).
# usage: bench/search/run_bench_search.sh FLASHNAS_BINARY OUT_DIR [problems...]
set -euo pipefail
bin=${1:?flashnas binary}
out=${2:?output directory}
shift 2
problems=("$@")
[ ${#problems[@]} -eq 0 ] && problems=(branincurrin zdt1 dtlz2 arch)
algos=(nehvi random nsga2 tpe)
mkdir -p "$out"
for problem in "${problems[@]}"; do
  for algo in "${algos[@]}"; do
    "$bin" bench-search --problem "$problem" --algo "$algo" --budget 100 --batch 4 --initial 10 --seeds 10 --json \
      > "$out/$problem-$algo.json"
  done
done
python3 "$(dirname "$0")/budget_table.py" "$out" --problems "${problems[@]}" --algos "${algos[@]}" \
  --budgets 24 32 40 48 64 80 100 --detail 64
