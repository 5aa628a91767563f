#!/bin/bash
# backend-probe.sh — scripts/vtl-run picks a backend that boots on this host (contract C8).
# Runs on the host (it starts guests itself), as root; uses $VTL_CACHE like vtl-run.
#
# Checks:
#   1. UML boots here by default (with the xstate shim where the host's XSAVE area is larger
#      than UML's, e.g. with AMX): CMD sees VTL_BACKEND=uml, no fallback line. Skipped when the
#      caller itself set VTL_UML_BROKEN=1 or VTL_UML_SHIM=0.
#   2. VTL_UML_BROKEN=1 (UML's FP-state writes fail, as on an AMX host without the shim) with
#      an explicit `--backend uml`: exit 125 and the reason, no fallback.
#   3. Same, by default, after removing that verdict: a fresh probe, then the run goes to qemu
#      with exactly one line on stderr saying why.
#   4. Again: qemu and the same line, but no second probe (the verdict is cached).
#   5. `--backend qemu` with VTL_UML_BROKEN=1: qemu, no probe, no fallback line.
# Prints one line per check and "N passed, M failed"; exits 1 on any failure.
set -u

vtl=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/vtl-run
work=$(mktemp -d "${TMPDIR:-/tmp}/backend-probe.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # check NAME CONDITION-RC [DETAIL]
	if [ "$2" = 0 ]; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1${3:+: $3}"
		echo "     stdout: $(tr '\n' '|' <"$work/out")"
		sed 's/^/     stderr: /' "$work/err"
	fi
}
# run ENV… -- VTL-RUN-ARGS…: vtl-run printing $VTL_BACKEND; sets rc, backend (stdout), fallback
# (the fallback lines), probed (1 if this run probed UML).
run() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	rc=0
	env "${envs[@]}" "$vtl" --times "$@" -- sh -c 'echo "$VTL_BACKEND"' >"$work/out" 2>"$work/err" || rc=$?
	backend=$(cat "$work/out")
	fallback=$(grep 'UML cannot boot' "$work/err" || true)
	probed=0
	grep -q '(UML probe [0-9]* ms)' "$work/err" && probed=1
	return 0
}

# Why the broken probe fails: UML's own message, unless there is no shim to break it with (then
# vtl-run runs `false` in UML's place).
why="ptrace set fp regs failed"
[ "${VTL_UML_SHIM:-1}" = 0 ] && why="no console output"

# 1
if [ "${VTL_UML_BROKEN:-0}" = 1 ] || [ "${VTL_UML_SHIM:-1}" = 0 ]; then
	echo "skip 1. UML boots by default (the caller set VTL_UML_BROKEN=1 or VTL_UML_SHIM=0)"
else
	run VTL_UML_BROKEN=0 --
	[ "$rc" = 0 ] && [ "$backend" = uml ] && [ -z "$fallback" ]
	ok=$? # before the command substitution below resets $?
	check "1. UML boots by default on this host ($(grep -c amx_tile /proc/cpuinfo) CPUs with AMX)" $ok \
		"rc $rc, backend '$backend'"
fi

# 2
run VTL_UML_BROKEN=1 -- --backend uml
[ "$rc" = 125 ] && [ -z "$backend" ] && [ "$(wc -l <<<"$fallback")" = 1 ] &&
	[[ $fallback == "vtl-run: UML cannot boot on this host ("*"$why"*")" ]]
check "2. broken UML with --backend uml: exit 125 and the reason, no fallback" $? "rc $rc"
log=$(sed -n 's/.*; probe log \([^ )]*\.console\)).*/\1/p' <<<"$fallback")

# 3
verdict=${log%.console}
[ -n "$log" ] && [ -f "$verdict" ] && rm -f "$verdict" "$log"
run VTL_UML_BROKEN=1 --
[ "$rc" = 0 ] && [ "$backend" = qemu ] && [ "$probed" = 1 ] && [ "$(wc -l <<<"$fallback")" = 1 ] &&
	[[ $fallback == "vtl-run: UML cannot boot on this host ("*"$why"*"); using qemu" ]] &&
	[ -n "$log" ] && [ -f "$verdict" ]
check "3. broken UML, default backend: probed afresh, qemu, one line why" $? \
	"rc $rc, backend '$backend', probed $probed, verdict ${verdict:-?}"
first=$fallback

# 4
run VTL_UML_BROKEN=1 --
[ "$rc" = 0 ] && [ "$backend" = qemu ] && [ "$probed" = 0 ] && [ "$fallback" = "$first" ]
check "4. broken UML again: qemu, the same line, no second probe" $? \
	"rc $rc, backend '$backend', probed $probed"

# 5
run VTL_UML_BROKEN=1 -- --backend qemu
[ "$rc" = 0 ] && [ "$backend" = qemu ] && [ "$probed" = 0 ] && [ -z "$fallback" ]
check "5. --backend qemu means qemu: no probe, no fallback line" $? "rc $rc, backend '$backend'"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
