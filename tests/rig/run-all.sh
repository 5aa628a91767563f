#!/bin/bash
# run-all.sh — every test of the real-kernel VTL rig, each phase timed.
#
# usage: tests/rig/run-all.sh            (as root; the Debian packages of tests/rig/packages.txt
#                                         installed — scripts/vtl-run installs what it misses)
# Environment:
#   VTL_CACHE   guest kernel/initramfs/tape cache (default /var/tmp/changer-rig; built on first
#               use from Debian's packages: apt-get download, never installed)
#   RIG_QEMU=1  also run the smoke checks with `--backend qemu` (qemu TCG; installs
#               qemu-system-x86 on first use)
#   RIG_PHASES  space-separated phase names to run (default: all; see the list below)
#   RIG_LOGS    directory for the per-phase logs (default: a new /tmp/rig-run-all.XXXXXX)
#
# Phases (each one guest boot unless noted):
#   prepare            fetch/build the guest kernel + initramfs if needed, boot once (`true`)
#   library-small      `mtx status | head -3` shows 2 drives, 12 slots (2 I/E)
#   library-aws        `mtx status | head -3` shows 10 drives, 3200 slots (1600 I/E)
#   smoke-small, smoke-aws       tests/rig/smoke.sh (inventory, device mapping, data path,
#                                tgtadm vs tgt-ipc.pl)
#   quirks-small       tests/rig/tgt-quirks.sh (tgt 1.0.85 behaviour, asserted)
#   udev-aws           tests/rig/udev.sh under --udev (/dev/tape links)
#   diff-small         tests/rig/diff-selftest.sh (stock vs stock, three mutants caught)
#   diff-aws           the same on the aws library with the loaded+1 mutant
#   bacula-small, bacula-aws     tests/rig/bacula-e2e.sh (label, backup, restore, compare)
#   director-model     host only: tests/rig/director-view.pl agrees with the shared
#                      compat-corpus model on every corpus list/listall file (skipped when
#                      ../shared/compat-corpus is absent)
#   qemu-library-aws, qemu-smoke-small   (RIG_QEMU=1 only) the same checks under qemu TCG
# Prints "PASS|FAIL|SKIP <phase> <seconds>" per phase (the failing phase's log follows its line),
# the total wall time, and last `N passed, M failed`; exits 1 if any phase failed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
vtl=$root/scripts/vtl-run
t=$root/tests/rig
logs=${RIG_LOGS:-$(mktemp -d /tmp/rig-run-all.XXXXXX)}
mkdir -p "$logs"
passed=0 failed=0 skipped=0
t_all=${EPOCHREALTIME/./}

want_phase() { [ -z "${RIG_PHASES:-}" ] || [[ " $RIG_PHASES " == *" $1 "* ]]; }
secs() { local d=$((${EPOCHREALTIME/./} - $1)); printf '%d.%01d' $((d / 1000000)) $((d / 100000 % 10)); }

# phase NAME CMD…: run, log to $logs/NAME.log, print the verdict and the wall time.
phase() {
	local name=$1 t0 rc
	shift
	want_phase "$name" || return 0
	t0=${EPOCHREALTIME/./}
	"$@" >"$logs/$name.log" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-18s %7ss\n' "$name" "$(secs "$t0")"
	else
		failed=$((failed + 1))
		printf 'FAIL %-18s %7ss  (exit %s; log %s)\n' "$name" "$(secs "$t0")" "$rc" "$logs/$name.log"
		tail -n 150 "$logs/$name.log" | sed 's/^/    | /'
	fi
	return "$rc"
}
skip() {
	want_phase "$1" || return 0
	skipped=$((skipped + 1))
	printf 'SKIP %-18s  %s\n' "$1" "$2"
}

# library_header BACKEND LIBRARY EXPECTED: the issue's own check, verbatim.
library_header() {
	local out
	out=$("$vtl" --backend "$1" --library "$2" --times -- sh -c 'mtx -f $CHANGER_SG status | head -3') || return 1
	echo "$out"
	grep -q "^  Storage Changer /dev/sg[0-9]*:$3\$" <<<"$out" || { echo "expected header ':$3'"; return 1; }
}

# The host-side check of the director model against the shared one.
director_model() {
	local corpus=$root/../shared/compat-corpus f m n=0 bad=0
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

echo "rig tests: logs in $logs, cache ${VTL_CACHE:-/var/tmp/changer-rig}"
if ! phase prepare "$vtl" --times -- true && want_phase prepare; then
	echo "the guest does not boot; nothing else can run"
	echo "$passed passed, $((failed)) failed"
	exit 1
fi
phase library-small library_header uml small "2 Drives, 12 Slots ( 2 Import/Export )"
phase library-aws library_header uml aws "10 Drives, 3200 Slots ( 1600 Import/Export )"
phase smoke-small "$vtl" --times -- "$t/smoke.sh"
phase smoke-aws "$vtl" --times --library aws -- "$t/smoke.sh"
phase quirks-small "$vtl" --times -- "$t/tgt-quirks.sh"
phase udev-aws "$vtl" --times --udev --library aws -- "$t/udev.sh"
phase diff-small "$vtl" --times -- "$t/diff-selftest.sh"
phase diff-aws env DIFF_MUTANTS=loaded+1 "$vtl" --times --library aws -- "$t/diff-selftest.sh"
phase bacula-small "$vtl" --times -- "$t/bacula-e2e.sh"
phase bacula-aws "$vtl" --times --library aws -- "$t/bacula-e2e.sh"
if [ -d "$root/../shared/compat-corpus/tools" ] && command -v python3 >/dev/null; then
	phase director-model director_model
else
	skip director-model "no ../shared/compat-corpus (or no python3) to compare with"
fi
if [ "${RIG_QEMU:-0}" = 1 ]; then
	phase qemu-library-aws library_header qemu aws "10 Drives, 3200 Slots ( 1600 Import/Export )"
	phase qemu-smoke-small "$vtl" --times --backend qemu -- "$t/smoke.sh"
else
	skip qemu "RIG_QEMU=1 adds the smoke checks under qemu TCG"
fi

echo "total $(secs "$t_all")s; $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
