#!/bin/bash
# run-all.sh — every test of the real-kernel VTL rig, each phase timed.
#
# usage: tests/rig/run-all.sh            (as root; the Debian packages of tests/rig/packages.txt
#                                         installed — scripts/vtl-run installs what it misses)
# Environment:
#   VTL_CACHE   guest kernel/initramfs/tape cache (default /var/tmp/changer-rig; built on first
#               use from Debian's packages: apt-get download, never installed)
#   VTL_UML_BROKEN=1  make UML fail to boot, as it would without the xstate shim on an AMX host:
#               every phase then runs on the qemu fallback (vtl-run says so once per run)
#   RIG_QEMU=1  also run the smoke checks with `--backend qemu` (qemu TCG; installs
#               qemu-system-x86 on first use)
#   RIG_PHASES  space-separated phase names to run (default: all; see the list below)
#   RIG_LOGS    directory for the per-phase logs (default: a new /tmp/rig-run-all.XXXXXX)
#   RIG_JOBS    1 runs the two library lanes one after the other; default 2 runs them side by
#               side (each UML guest uses one CPU)
#
# Phases (each one guest boot unless noted). After `prepare`, the small-library lane (library-,
# smoke-, quirks-, diff-, bacula-small, backend-probe) and the aws lane (library-, smoke-,
# udev-, diff-, bacula-aws) run in parallel; the host check and the qemu phases come last.
# Phases use vtl-run's default backend (UML, or qemu where UML cannot boot).
#   prepare            fetch/build the guest kernel + initramfs if needed, probe UML, boot once
#                      (`true`)
#   library-small      `mtx status | head -3` shows 2 drives, 12 slots (2 I/E)
#   library-aws        `mtx status | head -3` shows 10 drives, 3200 slots (1600 I/E)
#   smoke-small, smoke-aws       tests/rig/smoke.sh (inventory, device mapping, data path,
#                                tgtadm vs tgt-ipc.pl)
#   quirks-small       tests/rig/tgt-quirks.sh (tgt 1.0.85 behaviour, asserted)
#   udev-aws           tests/rig/udev.sh under --udev (/dev/tape links)
#   diff-small         tests/rig/diff-selftest.sh (stock vs stock, three mutants caught)
#   diff-aws           the same on the aws library with the loaded+1 and unload-elsewhere mutants
#   bacula-small, bacula-aws     tests/rig/bacula-e2e.sh (label, backup, restore, compare)
#   backend-probe      host side: tests/rig/backend-probe.sh (UML boots here; with UML broken,
#                      the probe falls back to qemu and says so once; --backend is obeyed)
#   director-model     host only: tests/rig/director-view.pl agrees with the shared
#                      compat-corpus model on every corpus list/listall file (skipped when
#                      ../shared/compat-corpus is absent)
#   qemu-library-aws, qemu-smoke-small   (RIG_QEMU=1 only) the same checks under qemu TCG
# Prints "PASS|FAIL|SKIP <phase> <seconds>" per phase as it ends, then the logs of failed phases,
# the total wall time, and last `N passed, M failed`; exits 1 if any phase failed.
set -eu

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
vtl=$root/scripts/vtl-run
t=$root/tests/rig
corpus=$root/../shared/compat-corpus
logs=${RIG_LOGS:-$(mktemp -d /tmp/rig-run-all.XXXXXX)}
mkdir -p "$logs"
rm -f "$logs"/*.result
t_all=${EPOCHREALTIME/./}

want_phase() { [ -z "${RIG_PHASES:-}" ] || [[ " $RIG_PHASES " == *" $1 "* ]]; }
secs() { local d=$((${EPOCHREALTIME/./} - $1)); printf '%d.%01d' $((d / 1000000)) $((d / 100000 % 10)); }

# library_header BACKEND LIBRARY EXPECTED: the issue's own check, verbatim (BACKEND "" = default).
library_header() {
	local out
	out=$("$vtl" ${1:+--backend "$1"} --library "$2" --times -- sh -c 'mtx -f $CHANGER_SG status | head -3') || return 1
	echo "$out"
	grep -q "^  Storage Changer /dev/sg[0-9]*:$3\$" <<<"$out" || { echo "expected header ':$3'"; return 1; }
}

# director-view.pl against the shared model, on every list/listall file of the corpus.
director_model() {
	local f m n=0 bad=0
	for f in "$corpus"/*/expected-list*.txt "$corpus"/*/variants/*/expected-list*.txt; do
		[ -f "$f" ] || continue
		case $f in *.stderr.txt) continue ;; *listall*) m=listall ;; *) m=list ;; esac
		n=$((n + 1))
		if ! diff <(python3 "$corpus/tools/director_view.py" "$m" "$f") \
			<(perl "$t/director-view.pl" "$m" 0 "$f"); then
			echo "differs on $f"
			bad=$((bad + 1))
		fi
	done
	echo "$n corpus files, $bad differ"
	[ "$n" -gt 0 ] && [ "$bad" = 0 ]
}

phase_cmd() {
	case $1 in
	prepare) "$vtl" --times -- true ;;
	library-small) library_header "" small "2 Drives, 12 Slots ( 2 Import/Export )" ;;
	library-aws) library_header "" aws "10 Drives, 3200 Slots ( 1600 Import/Export )" ;;
	smoke-small) "$vtl" --times -- "$t/smoke.sh" ;;
	smoke-aws) "$vtl" --times --library aws -- "$t/smoke.sh" ;;
	quirks-small) "$vtl" --times -- "$t/tgt-quirks.sh" ;;
	udev-aws) "$vtl" --times --udev --library aws -- "$t/udev.sh" ;;
	diff-small) "$vtl" --times -- "$t/diff-selftest.sh" ;;
	diff-aws) "$vtl" --times --library aws -- "$t/diff-selftest.sh" loaded+1 unload-elsewhere ;;
	bacula-small) "$vtl" --times -- "$t/bacula-e2e.sh" ;;
	bacula-aws) "$vtl" --times --library aws -- "$t/bacula-e2e.sh" ;;
	backend-probe) "$t/backend-probe.sh" ;;
	director-model) director_model ;;
	qemu-library-aws) library_header qemu aws "10 Drives, 3200 Slots ( 1600 Import/Export )" ;;
	qemu-smoke-small) "$vtl" --times --backend qemu -- "$t/smoke.sh" ;;
	*) echo "no phase '$1'"; return 1 ;;
	esac
}

# run PHASE…: run each wanted phase; log to $logs/NAME.log, verdict to $logs/NAME.result.
run() {
	local name t0 rc
	for name in "$@"; do
		want_phase "$name" || continue
		t0=${EPOCHREALTIME/./}
		rc=0
		phase_cmd "$name" >"$logs/$name.log" 2>&1 || rc=$?
		if [ "$rc" = 0 ]; then
			echo "PASS $(secs "$t0")" >"$logs/$name.result"
		else
			echo "FAIL $(secs "$t0") $rc" >"$logs/$name.result"
		fi
		read -r verdict s _ <"$logs/$name.result"
		printf '%s %-18s %7ss\n' "$verdict" "$name" "$s"
	done
}
skip() {
	want_phase "$1" || return 0
	echo "SKIP 0 $2" >"$logs/$1.result"
	printf 'SKIP %-18s  %s\n' "$1" "$2"
}

small=(library-small smoke-small quirks-small diff-small bacula-small backend-probe)
aws=(library-aws smoke-aws udev-aws diff-aws bacula-aws)
order=(prepare "${small[@]}" "${aws[@]}" director-model qemu-library-aws qemu-smoke-small)

echo "rig tests: logs in $logs, cache ${VTL_CACHE:-/var/tmp/changer-rig}, ${RIG_JOBS:-2} lane(s)"
run prepare
if [ -f "$logs/prepare.result" ] && [ "$(cut -d' ' -f1 "$logs/prepare.result")" != PASS ]; then
	echo "the guest does not boot, so nothing else can run:"
	tail -n 150 "$logs/prepare.log" | sed 's/^/    | /'
	echo "0 passed, 1 failed"
	exit 1
fi
# Which backend the phases get (vtl-run's fallback line, if any, from the prepare run).
grep -h '^vtl-run: UML cannot boot' "$logs/prepare.log" 2>/dev/null || true
if [ "${RIG_JOBS:-2}" = 1 ]; then
	run "${small[@]}"
	run "${aws[@]}"
else
	run "${small[@]}" &
	lane=$!
	run "${aws[@]}"
	wait "$lane" || true
fi
if [ -d "$corpus/tools" ] && command -v python3 >/dev/null; then
	run director-model
else
	skip director-model "no ../shared/compat-corpus (or no python3) to compare with"
fi
if [ "${RIG_QEMU:-0}" = 1 ]; then
	run qemu-library-aws qemu-smoke-small
else
	skip qemu-library-aws "RIG_QEMU=1 adds the checks under qemu TCG"
	skip qemu-smoke-small "RIG_QEMU=1 adds the checks under qemu TCG"
fi

passed=0 failed=0 skipped=0
for name in "${order[@]}"; do
	[ -f "$logs/$name.result" ] || continue
	read -r verdict s rc <"$logs/$name.result"
	case $verdict in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*)
		failed=$((failed + 1))
		echo "---- FAILED: $name (exit $rc, ${s}s; full log $logs/$name.log), last 150 lines:"
		tail -n 150 "$logs/$name.log" | sed 's/^/    | /'
		;;
	esac
done
echo "total $(secs "$t_all")s wall; $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
