#!/bin/bash
# diff-harness.sh — differential test of two changer commands on a freshly started real library.
#
# Runs inside the rig (scripts/vtl-run), as root:
#   scripts/vtl-run [--library small|aws] -- tests/rig/diff-harness.sh [OPTIONS] \
#       -a "CMD_A" -b "CMD_B" SEQUENCE
#   tests/rig/diff-harness.sh record [OPTIONS] "CMD" SEQUENCE DIR   (one side, kept in DIR)
#   tests/rig/diff-harness.sh compare DIR_A DIR_B                   (two recorded sides)
#
# CMD_A, CMD_B: command prefixes, split on blanks like Bareos' `Changer Command`, run as
#   `<CMD> <changer-device> <op> <args…>` — exactly what Bareos runs for `%c %o %S %a %d`.
#   Example: "/etc/bacula/scripts/mtx-changer" or "/work/main/target/debug/changer".
# SEQUENCE: a file with one Bareos-style invocation per line (after the changer device), e.g.
#     slots
#     loaded 0 $DRIVE0_NST 0
#     load 1 $DRIVE0_NST 0
#     transfer 11 9
#     listall
#   `$NAME`/`${NAME}` expand from the environment (DRIVE<n>_NST etc. from the rig; an unset name
#   is an error); blank lines and `#` comments are skipped.
# Options:
#   -o DIR            keep everything in DIR (DIR/A, DIR/B); default: a temporary directory that
#                     is removed when the sides agree, and otherwise moved to $VTL_OUT (kept on
#                     the host by scripts/vtl-run)
#   --no-strace       do not count SG_IO ioctls (faster)
#   --step-timeout S  limit per command (default 120 s; the stock script's `load` can wait 300 s)
#   --daemon          side B (with `record`: the one side) goes through changerd: after the
#                     library restart the harness starts changerd (--changerd PATH, default the
#                     `changerd` next to the command's program, else the one on PATH) with a
#                     config in the side's directory (socket, state_dir, lock_dir, log_file,
#                     log_level debug, one [[library]] device = $CHANGER_SG), runs every step of
#                     that side with CHANGER_CONFIG naming it, and stops the daemon with SIGTERM
#                     after the last step. Proof that the daemon answered, checked per step: the
#                     command's log must gain exactly one "answered by changerd" line (else the
#                     step differs: `direct@B`); the daemon must exit 0 after SIGTERM and its log
#                     must show one request per step (else the comparison fails)
#   --daemon-cache M  the daemon's cache mode for the library: exclusive (default: it holds the
#                     library lock for its whole life, so a step that did not reach it refuses
#                     at once) or shared
#
# Each side starts from a freshly started library: `"$VTL_CTL" restart` (tgtd restart, fresh
# tape images, iSCSI re-login; device names are re-read from $VTL_ENV). After every step the
# harness records and then compares, A against B:
#   exit   the exit status;
#   view   what the director makes of the answer: tests/rig/director-view.pl models Bareos'
#          parsing (bareos-protocol.md §2.2–§2.8) of stdout+stderr merged as the SD reads them,
#          so byte differences Bareos ignores (padding, line order, Bacula's older script) pass;
#   state  the library afterwards, from `mtx -f $CHANGER_SG status` (the oracle; its header's
#          device name is normalized).
# Counting SCSI commands, for benchmarks: the `cmds` column is the changer's own counter
# (sysfs iorequest_cnt: every command the kernel sent it, by any path); with strace (default)
# each command runs under `strace -f --seccomp-bpf -e trace=ioctl`, its SG_IO (0x2285) ioctls
# are counted (`sgio`) and their opcodes listed (READ ELEMENT STATUS as b8/<element type>). A command that sends READ ELEMENT STATUS for element type 0 (all) fails its side:
# tgt 1.0.85 answers that with a corrupt layout and can crash (test-env.md §2.3 #1).
#
# Output: one table row per step (exit, cmds, sgio, wall ms per side, verdict), then the details
# of each difference; the last line is `diff-harness: N steps, all agree` or
# `diff-harness: K of N steps differ`. Exit 0 when all agree, 1 when any differ, 2 on a usage
# or rig error.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VIEW=$here/director-view.pl
strace_on=1
step_timeout=120
daemon=0
daemon_cache=exclusive
changerd=
daemon_pid=
# A daemon still running when the harness ends early (die, a signal) is killed.
trap '[ -z "$daemon_pid" ] || kill -KILL "$daemon_pid" 2>/dev/null || true' EXIT

die() {
	echo "diff-harness: $*" >&2
	exit 2
}
# File contents into REPLY without starting a process (forks cost ~30 ms each under UML).
slurp() { REPLY=; IFS= read -r -d '' REPLY <"$1" || true; }
line1() { REPLY=; IFS= read -r REPLY <"$1" || true; }

# Expand $NAME / ${NAME} in $1 from the environment into REPLY; an unset name is an error.
expand() {
	local s=$1 out='' name
	while [[ $s =~ ^([^\$]*)\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(.*)$ ]]; do
		out+=${BASH_REMATCH[1]}
		name=${BASH_REMATCH[3]}${BASH_REMATCH[4]}
		[ -n "${!name+set}" ] || die "sequence uses \$$name, which is not set"
		out+=${!name}
		s=${BASH_REMATCH[5]}
	done
	REPLY=$out$s
}

# The library state into FILE. mtx reads a link with a fixed name, so that its header line
# ("Storage Changer <device>:…") is the same on both sides although /dev/sgN may differ.
state() {
	mtx -f /run/vtl/harness-changer status >"$1" 2>&1 || true # a failure is recorded as the state
}

# SG_IO summaries, one perl for all steps: DIR/N.strace -> DIR/N.sgio "<count> <opcodes>",
# opcodes in hex, READ ELEMENT STATUS as b8/<element type>.
sgio_summaries() {
	perl -e '
		for my $f (@ARGV) {
			open(my $in, "<", $f) or die "$f: $!";
			my ($n, @ops) = (0);
			while (<$in>) {
				next if /resumed>/ || !/SG_IO/;
				$n++;
				next unless /cmdp="((?:\\x[0-9a-f]{2})+)"/;
				my @b = map { hex } ($1 =~ /\\x([0-9a-f]{2})/g);
				push @ops, $b[0] == 0xb8 ? sprintf("b8/%d", $b[1] & 0x0f) : sprintf("%02x", $b[0]);
			}
			(my $o = $f) =~ s/\.strace$/.sgio/;
			open(my $out, ">", $o) or die "$o: $!";
			print $out "$n ", join(",", @ops), "\n";
			unlink $f;
		}' "$@"
}

# start_daemon PROGRAM DIR: changerd owning $CHANGER_SG, everything of it in DIR/changerd;
# exports CHANGER_CONFIG for the steps; sets daemon_pid.
start_daemon() {
	local prog=$1 d=$2/changerd i
	local bin=${changerd:-}
	if [ -z "$bin" ]; then
		bin=$(dirname "$prog")/changerd
		[ -x "$bin" ] || bin=$(command -v changerd) || die "no changerd next to $prog nor on PATH (--changerd PATH)"
	fi
	[ -x "$bin" ] || die "changerd $bin is not executable"
	mkdir -p "$d" || die "cannot create $d"
	cat >"$d/changer.toml" <<-EOF
		# written by diff-harness.sh --daemon
		socket = "$d/changerd.sock"
		state_dir = "$d/state"
		lock_dir = "$d/lock"
		log_file = "$d/changer.log"
		log_level = "debug"
		[[library]]
		device = "$CHANGER_SG"
		cache = "$daemon_cache"
	EOF
	: >"$d/changer.log"
	NO_COLOR=1 "$bin" --config "$d/changer.toml" >"$d/daemon.out" 2>"$d/daemon.log" </dev/null &
	daemon_pid=$!
	# It binds the socket once the library is open and read (aws: 3200 slots).
	for ((i = 0; i < 1200; i++)); do
		[ -S "$d/changerd.sock" ] && break
		if ! kill -0 "$daemon_pid" 2>/dev/null || [ "$(proc_state "$daemon_pid")" = Z ]; then
			wait "$daemon_pid" || true
			cat "$d/daemon.log" >&2
			die "changerd exited before it listened"
		fi
		sleep 0.1
	done
	[ -S "$d/changerd.sock" ] || { cat "$d/daemon.log" >&2; kill -KILL "$daemon_pid"; die "changerd did not listen within 120 s"; }
	echo "$bin (cache $daemon_cache, pid $daemon_pid)" >"$2/daemon"
	export CHANGER_CONFIG=$d/changer.toml
}

proc_state() { # the state letter of process $1 (Z = exited, not yet reaped), or nothing
	local line
	line=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	line=${line##*) }
	echo "${line%% *}"
}

# stop_daemon DIR: SIGTERM, wait up to 60 s, record the exit status (137 after a SIGKILL) and
# the number of requests the daemon served.
stop_daemon() {
	local dir=$1 i rc=0
	unset CHANGER_CONFIG
	kill -TERM "$daemon_pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		case $(proc_state "$daemon_pid") in '' | Z) break ;; esac
		sleep 0.1
	done
	case $(proc_state "$daemon_pid") in
	'' | Z) ;;
	*)
		echo "changerd did not stop within 60 s of SIGTERM; killed" >>"$dir/daemon.problems"
		kill -KILL "$daemon_pid" 2>/dev/null || true
		;;
	esac
	wait "$daemon_pid" || rc=$?
	daemon_pid=
	echo "$rc" >"$dir/daemon.rc"
	grep -c 'request started' "$dir/changerd/daemon.log" >"$dir/daemon.requests" || true
}

# record CMD SEQUENCE DIR
record() {
	local cmd=$1 seq=$2 dir=$3 line i=0 op rc words
	read -r -a words <<<"$cmd"
	[ ${#words[@]} -gt 0 ] || die "empty command"
	[ -n "${VTL_CTL:-}" ] && [ -n "${VTL_ENV:-}" ] || die "not inside the rig (VTL_CTL/VTL_ENV unset); run me through scripts/vtl-run"
	[ -f "$seq" ] || die "no sequence file $seq"
	mkdir -p "$dir" || die "cannot create $dir"
	"$VTL_CTL" restart >"$dir/restart.log" 2>&1 || {
		cat "$dir/restart.log" >&2
		die "could not restart the library"
	}
	set -a
	# shellcheck source=/dev/null
	. "$VTL_ENV"
	set +a
	ln -sfn "$CHANGER_SG" /run/vtl/harness-changer || die "cannot link /run/vtl/harness-changer"
	# The changer's SCSI command counter (every command the kernel sent it, whatever the path).
	local ioreq=/sys/class/scsi_generic/${CHANGER_SG#/dev/}/device/iorequest_cnt c0 c1 t0
	[ -r "$ioreq" ] || die "no $ioreq"
	echo "$cmd" >"$dir/command"
	local answered=0 n
	if [ "$daemon" = 1 ]; then
		start_daemon "${words[0]}" "$dir"
		echo "$cmd   (through changerd, cache $daemon_cache)" >"$dir/command"
	fi
	state "$dir/0.state"
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		[[ $line =~ [^[:space:]] ]] || continue
		expand "$line"
		i=$((i + 1))
		local -a args
		read -r -a args <<<"$REPLY"
		op=${args[0]}
		echo "${args[*]}" >"$dir/$i.cmd"
		echo "$op" >"$dir/$i.op"
		read -r c0 <"$ioreq"
		t0=${EPOCHREALTIME/./}
		rc=0
		if [ "$strace_on" = 1 ]; then
			# --seccomp-bpf: only the traced syscall stops the tracee (plain -f doubles run time
			# under UML).
			timeout -k 5 "$step_timeout" strace -f --seccomp-bpf -qq -xx -o "$dir/$i.strace" \
				-e trace=ioctl "${words[@]}" "$CHANGER_SG" "${args[@]}" >"$dir/$i.out" 2>&1 </dev/null ||
				rc=$?
		else
			timeout -k 5 "$step_timeout" "${words[@]}" "$CHANGER_SG" "${args[@]}" \
				>"$dir/$i.out" 2>&1 </dev/null || rc=$?
		fi
		echo $(((${EPOCHREALTIME/./} - t0) / 1000)) >"$dir/$i.ms"
		read -r c1 <"$ioreq"
		echo $((c1 - c0)) >"$dir/$i.cmds"
		echo "$rc" >"$dir/$i.rc"
		if [ "$daemon" = 1 ]; then
			n=$(grep -c 'answered by changerd' "$dir/changerd/changer.log") || true
			if [ "$n" = $((answered + 1)) ]; then echo changerd; else echo "direct ($((n - answered)) answers by changerd)"; fi >"$dir/$i.via"
			answered=$n
		fi
		perl "$VIEW" "$op" "$rc" "$dir/$i.out" >"$dir/$i.view"
		state "$dir/$i.state"
	done <"$seq"
	[ "$daemon" = 1 ] && stop_daemon "$dir"
	[ "$strace_on" = 1 ] && [ "$i" -gt 0 ] && sgio_summaries "$dir"/*.strace
	echo "$i" >"$dir/steps"
}

# compare DIR_A DIR_B: print the table and details; return 0 when every step agrees.
compare() {
	local a=$1 b=$2 n nb i bad=0 d side cmd
	local -a what details=() row
	line1 "$a/steps"; n=$REPLY
	line1 "$b/steps"; nb=$REPLY
	[ -n "$n" ] || die "$a is not a recorded side"
	[ -n "$nb" ] || die "$b is not a recorded side"
	[ "$n" = "$nb" ] || die "$a has $n steps, $b has $nb"
	line1 "$a/command"; echo "A: $REPLY"
	line1 "$b/command"; echo "B: $REPLY"
	printf '%4s  %-28s  %4s %4s %4s %6s  %4s %4s %4s %6s  %s\n' step command \
		"A rc" cmds sgio ms "B rc" cmds sgio ms result
	same() { cmp -s "$1" "$2"; }
	if ! same "$a/0.state" "$b/0.state"; then
		bad=$((bad + 1))
		details+=("initial state differs (the library was not started fresh?):"$'\n'"$(diff -u "$a/0.state" "$b/0.state" | tail -n +3)")
	fi
	local ops_a=() ops_b=()
	for ((i = 1; i <= n; i++)); do
		what=() row=()
		line1 "$a/$i.cmd"; cmd=$REPLY
		for side in "$a" "$b"; do # row: rc cmds sgio-count ms, for A then B
			line1 "$side/$i.rc"; row+=("$REPLY")
			line1 "$side/$i.cmds"; row+=("$REPLY")
			if [ -f "$side/$i.sgio" ]; then
				line1 "$side/$i.sgio"; row+=("${REPLY%% *}")
				[ "$side" = "$a" ] && ops_a[i]=${REPLY#* } || ops_b[i]=${REPLY#* }
				[[ ",${REPLY#* }," == *,b8/0,* ]] && what+=("RES-type-0@$([ "$side" = "$a" ] && echo A || echo B)")
			else
				row+=(-)
			fi
			line1 "$side/$i.ms"; row+=("$REPLY")
		done
		for side in "$a" "$b"; do
			[ -f "$side/daemon" ] || continue
			line1 "$side/$i.via"
			[ "$REPLY" = changerd ] || what+=("direct@$([ "$side" = "$a" ] && echo A || echo B)")
		done
		[ "${row[0]}" = "${row[4]}" ] || what=(exit "${what[@]}")
		same "$a/$i.view" "$b/$i.view" || what+=(view)
		same "$a/$i.state" "$b/$i.state" || what+=(state)
		if [ ${#what[@]} -eq 0 ]; then
			d=agree
		else
			d="DIFFER: ${what[*]}"
			bad=$((bad + 1))
			local t="step $i ($cmd):"
			case " ${what[*]} " in *" exit "*) t+=$'\n'"  exit: A ${row[0]}, B ${row[4]}" ;; esac
			case " ${what[*]} " in *" view "*) t+=$'\n'"  view (--- A, +++ B):"$'\n'"$(diff -u "$a/$i.view" "$b/$i.view" | tail -n +3)" ;; esac
			case " ${what[*]} " in *" state "*) t+=$'\n'"  state after the step (--- A, +++ B):"$'\n'"$(diff -u "$a/$i.state" "$b/$i.state" | tail -n +3)" ;; esac
			case " ${what[*]} " in *direct@*) t+=$'\n'"  the step was not answered by changerd ($(cat "$a/$i.via" "$b/$i.via" 2>/dev/null | tr '\n' ' ')); see changerd/changer.log and changerd/daemon.log" ;; esac
			case " ${what[*]} " in *RES-type-0*) t+=$'\n'"  READ ELEMENT STATUS with element type 0 (all) was sent: tgt 1.0.85 corrupts that answer and may crash (test-env.md §2.3 #1)" ;; esac
			slurp "$a/$i.out"; t+=$'\n'"  output A:"$'\n'"${REPLY:0:2000}"
			slurp "$b/$i.out"; t+=$'\n'"  output B:"$'\n'"${REPLY:0:2000}"
			details+=("$t")
		fi
		printf '%4d  %-28.28s  %4s %4s %4s %6s  %4s %4s %4s %6s  %s\n' "$i" "$cmd" "${row[@]}" "$d"
	done
	if [ ${#ops_a[@]} -gt 0 ] || [ ${#ops_b[@]} -gt 0 ]; then
		echo "SCSI commands per step (SG_IO opcodes; b8/N = READ ELEMENT STATUS, element type N):"
		for ((i = 1; i <= n; i++)); do
			printf '%4d  A: %s\n      B: %s\n' "$i" "${ops_a[i]:--}" "${ops_b[i]:--}"
		done
	fi
	for d in "${details[@]}"; do
		echo "---- $d"
	done
	local daemon_bad=0
	for side in "$a" "$b"; do # the daemon of a side that went through changerd
		[ -f "$side/daemon" ] || continue
		local name rc reqs
		name=$([ "$side" = "$a" ] && echo A || echo B)
		line1 "$side/daemon.rc"; rc=$REPLY
		line1 "$side/daemon.requests"; reqs=$REPLY
		line1 "$side/daemon"
		echo "changerd of side $name: $REPLY; $reqs requests served for $n steps; exit status $rc after SIGTERM"
		if [ "$rc" != 0 ] || [ "$reqs" != "$n" ] || [ -s "$side/daemon.problems" ]; then
			daemon_bad=1
			echo "---- changerd of side $name failed: exit status $rc (want 0), $reqs requests (want $n)"
			[ -s "$side/daemon.problems" ] && cat "$side/daemon.problems"
			echo "  last 30 lines of its log:"
			tail -n 30 "$side/changerd/daemon.log" | sed 's/^/  /'
		fi
	done
	if [ "$bad" -eq 0 ] && [ "$daemon_bad" = 0 ]; then
		echo "diff-harness: $n steps, all agree"
		return 0
	fi
	echo "diff-harness: $bad of $n steps differ$([ "$daemon_bad" = 0 ] || echo "; changerd failed")"
	return 1
}

parse_opts() { # sets OPTS_REST
	OPTS_REST=()
	while [ $# -gt 0 ]; do
		case $1 in
		--no-strace) strace_on=0 ;;
		--step-timeout) step_timeout=${2:?}; shift ;;
		--daemon) daemon=1 ;;
		--daemon-cache) daemon_cache=${2:?}; shift ;;
		--changerd) changerd=${2:?}; shift ;;
		-o) outdir=${2:?}; shift ;;
		-a) cmd_a=${2:?}; shift ;;
		-b) cmd_b=${2:?}; shift ;;
		-h | --help) sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
		-*) die "unknown option $1" ;;
		*) OPTS_REST+=("$1") ;;
		esac
		shift
	done
}

outdir=
cmd_a=
cmd_b=
case ${1:-} in
record)
	shift
	parse_opts "$@"
	[ ${#OPTS_REST[@]} -eq 3 ] || die "usage: diff-harness.sh record [--no-strace] [--daemon [--daemon-cache M] [--changerd PATH]] CMD SEQUENCE DIR"
	command -v strace >/dev/null || [ "$strace_on" = 0 ] || die "strace not installed"
	record "${OPTS_REST[0]}" "${OPTS_REST[1]}" "${OPTS_REST[2]}"
	;;
compare)
	shift
	[ $# -eq 2 ] || die "usage: diff-harness.sh compare DIR_A DIR_B"
	compare "$1" "$2"
	;;
*)
	parse_opts "$@"
	[ -n "$cmd_a" ] && [ -n "$cmd_b" ] && [ ${#OPTS_REST[@]} -eq 1 ] ||
		die "usage: diff-harness.sh [-o DIR] [--no-strace] [--daemon …] -a CMD_A -b CMD_B SEQUENCE (see --help)"
	command -v strace >/dev/null || [ "$strace_on" = 0 ] || die "strace not installed"
	keep=1
	if [ -z "$outdir" ]; then
		outdir=$(mktemp -d /tmp/diff-harness.XXXXXX) || die "mktemp failed"
		keep=0
	fi
	want_daemon=$daemon # side A is the reference: never through the daemon
	daemon=0
	record "$cmd_a" "${OPTS_REST[0]}" "$outdir/A"
	daemon=$want_daemon
	record "$cmd_b" "${OPTS_REST[0]}" "$outdir/B"
	rc=0
	compare "$outdir/A" "$outdir/B" || rc=$?
	if [ "$rc" = 0 ] && [ "$keep" = 0 ]; then
		rm -rf "$outdir"
	elif [ "$keep" = 0 ] && [ -n "${VTL_OUT:-}" ] && [ -d "$VTL_OUT" ]; then
		# Inside vtl-run the guest's /tmp vanishes with it; $VTL_OUT survives on the host.
		cp -a "$outdir" "$VTL_OUT/" && rm -rf "$outdir" && outdir=$VTL_OUT/${outdir##*/}
		echo "diff-harness: artifacts in $outdir (the host path is printed by vtl-run)"
	else
		echo "diff-harness: artifacts in $outdir"
	fi
	exit "$rc"
	;;
esac
