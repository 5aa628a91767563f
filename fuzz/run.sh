#!/bin/sh
# Seeds the corpora from the golden fixtures, then fuzzes every target for SECONDS (default
# 150), two at a time (two cores). Logs go to fuzz/artifacts/logs/ (not committed); the last
# lines of each log are libFuzzer's final statistics, copied into fuzz/README.md by hand.
#
#   fuzz/run.sh [SECONDS]
set -eu
seconds=${1:-150}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
cargo test -q -p scsi-changer --test no_panic -- --ignored write_fuzz_seed_corpora
cd "$here"
mkdir -p artifacts/logs
RUSTC_BOOTSTRAP=1 cargo fuzz build
run() {
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$1" -- -max_total_time="$seconds" -print_final_stats=1 \
        >"artifacts/logs/$1.log" 2>&1
    echo "$1: exit $?"
}
run element_status & run mode_page & wait
run inquiry & run sense & wait
for t in element_status mode_page inquiry sense; do
    echo "== $t"
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "artifacts/logs/$t.log" || tail -5 "artifacts/logs/$t.log"
done
