#!/bin/bash
# bacula-e2e.sh — end to end through a real storage daemon: Debian's Bacula (director with a
# SQLite catalog, storage daemon, file daemon, bconsole) drives the rig's library through its
# Autochanger resource and `Changer Command`.
#
# usage: scripts/vtl-run [--library small|aws] -- tests/rig/bacula-e2e.sh
#   CHANGER_CMD  the Autochanger's Changer Command (default
#                "/etc/bacula/scripts/mtx-changer %c %o %S %a %d", Debian's stock script that
#                calls mtx); a value without '%' is taken as a program and gets " %c %o %S %a %d"
#   E2E_TIMEOUT  seconds per bconsole step (default 240)
#   CHANGER_DAEMON  path of changerd: our side goes through the daemon. The script starts it
#                before the storage daemon with a config under /run/bacula-e2e/changer (socket,
#                socket_group bacula, state_dir, lock_dir, log_file, log_level debug, one
#                [[library]] device = $CHANGER_SG with cache $CHANGER_DAEMON_CACHE: exclusive,
#                the default, or shared), puts `--config <that file>` into the Changer Command
#                after its program, and at the end proves the daemon answered: every
#                invocation in the changer's log has its "answered by changerd" line, the
#                daemon logged as many requests, and it exits 0 on SIGTERM (after Bacula's
#                daemons have stopped). CHANGER_CMD must then be our `changer`.
#
# Steps (each must succeed, or the script prints the bconsole transcript, the Bacula log and
# the library state and exits 1):
#   1. write minimal configs under /run/bacula-e2e (the guest's tmpfs; the host's /etc is never
#      touched): all daemons on 127.0.0.1, an Autochanger "VTL" with Changer Device
#      $CHANGER_SG and one Device per drive (Drive Index n, Archive Device $DRIVE<n>_NST); a
#      fresh SQLite catalog from Debian's make_sqlite3_tables; start bacula-sd, -fd, -dir
#   2. `status storage`, `update slots`: the director must report the library's slot count
#   3. `label barcodes slots=1-2` (answered `yes`): both barcodes labelled, in the catalog as
#      volumes in slots 1 and 2
#   4. a Full backup of a generated tree (random files, an empty file, a name with blanks, a
#      symlink, a 2 MiB file) to tape through the autochanger: "Backup OK"
#   5. a restore of that job into another directory: "Restore OK", and the restored tree equals
#      the original byte for byte (diff -r, plus file count and sha256 of every file)
set -eu

: "${CHANGER_SG:?run me through scripts/vtl-run}"
W=/run/bacula-e2e
T=${E2E_TIMEOUT:-240}
cmd=${CHANGER_CMD:-/etc/bacula/scripts/mtx-changer %c %o %S %a %d}
[[ $cmd == *%* ]] || cmd="$cmd %c %o %S %a %d"
daemon=${CHANGER_DAEMON:-}
daemon_cache=${CHANGER_DAEMON_CACHE:-exclusive}
daemon_pid=
D=$W/changer # the daemon's config, socket, state and lock directories
if [ -n "$daemon" ]; then
	# Options go before the changer device: `changer --config FILE %c %o %S %a %d`.
	cmd="${cmd%% *} --config $D/changer.toml ${cmd#* }"
fi
t_start=${EPOCHREALTIME/./}
t_phase=$t_start
step_no=0

phase() { # print the wall time of the previous phase, announce the next
	local now=${EPOCHREALTIME/./}
	[ "$step_no" -gt 0 ] && echo "   ($(((now - t_phase) / 1000)) ms)"
	t_phase=$now
	step_no=$((step_no + 1))
	echo "== $step_no. $*"
}
fail() {
	echo "bacula-e2e: FAILED: $*"
	if [ -n "${last:-}" ] && [ -f "$last" ]; then
		echo "---- bconsole transcript ($last):"
		cat "$last"
	fi
	echo "---- Bacula log (last 80 lines of $W/log/bacula.log):"
	tail -n 80 "$W/log/bacula.log" 2>/dev/null || echo "(none)" # set -e: a missing log must not end fail() early
	echo "---- library state (mtx status, first 20 lines):"
	mtx -f "$CHANGER_SG" status 2>&1 | head -n 20
	if [ -n "$daemon" ]; then
		echo "---- changer log (last 40 lines of $W/log/changer.log):"
		tail -n 40 "$W/log/changer.log" 2>/dev/null || true
		echo "---- changerd log (last 40 lines of $W/log/changerd.log):"
		tail -n 40 "$W/log/changerd.log" 2>/dev/null || true
	fi
	# Inside vtl-run the guest's files vanish with it; $VTL_OUT survives on the host.
	if [ -n "${VTL_OUT:-}" ] && [ -d "$VTL_OUT" ]; then
		cp -a "$W/log" "$VTL_OUT/bacula-e2e-log" 2>/dev/null &&
			echo "bacula-e2e: the logs are in bacula-e2e-log/ of the run's out/files (vtl-run prints its host path)"
	fi
	exit 1
}
stop_daemons() {
	local f
	for f in "$W"/run/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
}
# At exit: Bacula's daemons, and a changerd the script did not stop itself (a failure).
trap 'stop_daemons; [ -z "$daemon_pid" ] || kill -KILL "$daemon_pid" 2>/dev/null || true' EXIT
proc_state() { # the state letter of process $1 (Z = exited, not yet reaped), or nothing
	local line
	line=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	line=${line##*) }
	echo "${line%% *}"
}

n_bcon=0
bcon() { # bconsole commands on stdin -> transcript file in $last, printed
	n_bcon=$((n_bcon + 1))
	last=$W/log/bconsole-$n_bcon.txt
	local rc=0
	timeout -k 5 "$T" bconsole -c "$W/etc/bconsole.conf" >"$last" 2>&1 || rc=$?
	sed 's/^/   | /' "$last"
	[ "$rc" = 0 ] || fail "bconsole exited with status $rc (124 = no answer within ${T}s)"
}
expect() { # REGEX DESCRIPTION: the last transcript must match
	grep -Eq -- "$1" "$last" || fail "expected $2 (/$1/) in the bconsole output"
}

phase "configure Bacula for the $VTL_LIBRARY library: Changer Command = \"$cmd\""
rm -rf "$W"
mkdir -p "$W"/etc "$W"/work "$W"/run "$W"/log "$W"/data/sub "$W"/restore || fail "mkdir $W"
devices='' dev_res=''
for ((n = 0; n < VTL_DRIVES; n++)); do
	nst_var=DRIVE${n}_NST
	devices+="${devices:+, }Drive-$n"
	dev_res+="
Device {
  Name = Drive-$n
  Drive Index = $n
  Media Type = LTO-5
  Archive Device = ${!nst_var}
  Autochanger = yes
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  RandomAccess = no
  Maximum Changer Wait = $T
}"
done
cat >"$W/etc/bacula-sd.conf" <<EOF
Storage {
  Name = rig-sd
  SDAddress = 127.0.0.1
  SDPort = 9103
  WorkingDirectory = "$W/work"
  Pid Directory = "$W/run"
  Maximum Concurrent Jobs = 5
}
Director {
  Name = rig-dir
  Password = "rig-sd-password"
}
Autochanger {
  Name = VTL
  Device = $devices
  Changer Command = "$cmd"
  Changer Device = $CHANGER_SG
}
$dev_res
Messages {
  Name = Standard
  director = rig-dir = all
}
EOF
cat >"$W/etc/bacula-fd.conf" <<EOF
FileDaemon {
  Name = rig-fd
  FDAddress = 127.0.0.1
  FDport = 9102
  WorkingDirectory = "$W/work"
  Pid Directory = "$W/run"
  Maximum Concurrent Jobs = 5
}
Director {
  Name = rig-dir
  Password = "rig-fd-password"
}
Messages {
  Name = Standard
  director = rig-dir = all, !skipped, !restored
}
EOF
cat >"$W/etc/bacula-dir.conf" <<EOF
Director {
  Name = rig-dir
  DirAddress = 127.0.0.1
  DIRport = 9101
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "$W/work"
  PidDirectory = "$W/run"
  Maximum Concurrent Jobs = 1
  Password = "rig-dir-password"
  Messages = Daemon
}
Client {
  Name = rig-fd
  Address = 127.0.0.1
  FDPort = 9102
  Catalog = RigCatalog
  Password = "rig-fd-password"
}
Storage {
  Name = VTL
  Address = 127.0.0.1
  SDPort = 9103
  Password = "rig-sd-password"
  Device = VTL
  Media Type = LTO-5
  Autochanger = yes
  Maximum Concurrent Jobs = 1
}
Catalog {
  Name = RigCatalog
  dbname = "bacula"; dbuser = ""; dbpassword = ""
}
FileSet {
  Name = Data
  Include {
    Options {
      signature = SHA1
    }
    File = "$W/data"
  }
}
Job {
  Name = BackupOne
  Type = Backup
  Level = Full
  Client = rig-fd
  FileSet = Data
  Storage = VTL
  Pool = Default
  Messages = Standard
  Write Bootstrap = "$W/work/%c.bsr"
}
Job {
  Name = RestoreFiles
  Type = Restore
  Client = rig-fd
  FileSet = Data
  Storage = VTL
  Pool = Default
  Messages = Standard
  Where = "$W/restore"
}
Pool {
  Name = Default
  Pool Type = Backup
  Recycle = yes
  AutoPrune = yes
  Volume Retention = 365 days
  Cleaning Prefix = "CLN"
}
Messages {
  Name = Standard
  console = all, !skipped, !saved
  append = "$W/log/bacula.log" = all, !skipped
  catalog = all
}
Messages {
  Name = Daemon
  console = all, !skipped, !saved
  append = "$W/log/bacula.log" = all, !skipped
}
EOF
cat >"$W/etc/bconsole.conf" <<EOF
Director {
  Name = rig-dir
  DIRport = 9101
  address = 127.0.0.1
  Password = "rig-dir-password"
}
EOF
# The catalog: Debian's table script, pointed at our working directory.
sed -e "s|^cd /var/lib/bacula|cd $W/work|" -e 's|XXX_DBNAME_XXX|bacula|' \
	/usr/share/bacula-director/make_sqlite3_tables >"$W/make_tables" || fail "no make_sqlite3_tables"
sh "$W/make_tables" >"$W/log/make_tables.log" 2>&1 || fail "catalog creation: $(cat "$W/log/make_tables.log")"
for d in sd fd dir; do
	out=$(bacula-$d -t -c "$W/etc/bacula-$d.conf" 2>&1) || fail "bacula-$d rejects its config: $out"
done

# Data: random content, an empty file, blanks in a name, a symlink, a file bigger than a block.
head -c 2097152 /dev/urandom >"$W/data/big.bin"
for i in 1 2 3 4 5; do head -c $((i * 1000 + 17)) /dev/urandom >"$W/data/sub/f$i"; done
: >"$W/data/empty"
echo "a name with blanks" >"$W/data/sub/with blanks.txt"
ln -s sub/f1 "$W/data/link-to-f1"

# tgt 1.0.85 answers a READ on a never-written tape (at end of data) with BLANK CHECK but reports
# the whole buffer as transferred, so st hands the reader whatever tgtd's buffer last held. When
# no other command reuses that buffer between a label write and the next label check (changerd's
# cache sends none), Bacula reads the previous tape's label from the fresh one and refuses to
# label it ("already labeled"). A filemark at the start of each tape to label makes that first
# read end cleanly with 0 bytes, as a blank tape's would on a real drive (docs/rig.md, tgt bug 10).
for s in 1 2; do
	{ mtx -f "$CHANGER_SG" load "$s" 0 && mt -f "$DRIVE0_NST" weof 1 && mtx -f "$CHANGER_SG" unload "$s" 0; } \
		>"$W/log/filemark-$s.log" 2>&1 || fail "cannot write a filemark on the tape of slot $s: $(cat "$W/log/filemark-$s.log")"
done
if [ -n "$daemon" ]; then
	[ -x "$daemon" ] || fail "CHANGER_DAEMON=$daemon is not executable"
	mkdir -p "$D" || fail "mkdir $D"
	group=
	getent group bacula >/dev/null && group='socket_group = "bacula"'
	cat >"$D/changer.toml" <<-EOF
		# written by bacula-e2e.sh for CHANGER_DAEMON
		socket = "$D/changerd.sock"
		$group
		state_dir = "$D/state"
		lock_dir = "$D/lock"
		log_file = "$W/log/changer.log"
		log_level = "debug"
		[[library]]
		device = "$CHANGER_SG"
		cache = "$daemon_cache"
	EOF
	NO_COLOR=1 "$daemon" --config "$D/changer.toml" >"$W/log/changerd.out" 2>"$W/log/changerd.log" </dev/null &
	daemon_pid=$!
	for ((i = 0; i < 1200; i++)); do # it listens once the library is open and read
		[ -S "$D/changerd.sock" ] && break
		case $(proc_state "$daemon_pid") in '' | Z) wait "$daemon_pid" || true; daemon_pid=; fail "changerd exited before it listened: $(tail -n 20 "$W/log/changerd.log")" ;; esac
		sleep 0.1
	done
	[ -S "$D/changerd.sock" ] || fail "changerd did not listen within 120 s"
	echo "   changerd (pid $daemon_pid, cache $daemon_cache) listens on $(stat -c '%n, mode %a, %U:%G' "$D/changerd.sock")"
fi
for d in sd fd dir; do
	bacula-$d -c "$W/etc/bacula-$d.conf" || fail "bacula-$d did not start"
done
for i in $(seq 1 100); do
	timeout 10 bconsole -c "$W/etc/bconsole.conf" <<<"version" 2>&1 | grep -q 'Version' && break
	[ "$i" = 100 ] && fail "the director does not answer"
	sleep 0.2
done

phase "status storage, update slots"
bcon <<<"status storage=VTL
update slots storage=VTL drive=0"
slots_want=$(mtx -f "$CHANGER_SG" status | sed -n 's/.*Drives, \([0-9]*\) Slots.*/\1/p')
expect "has $slots_want slots" "the director to see the library's $slots_want slots"

phase "label barcodes slots=1-2"
vol1=$(mtx -f "$CHANGER_SG" status | sed -n 's/^ *Storage Element 1:Full :VolumeTag=\([^ ]*\).*/\1/p')
vol2=$(mtx -f "$CHANGER_SG" status | sed -n 's/^ *Storage Element 2:Full :VolumeTag=\([^ ]*\).*/\1/p')
[ -n "$vol1" ] && [ -n "$vol2" ] || fail "slots 1 and 2 must hold barcoded tapes"
bcon <<<"label barcodes storage=VTL drive=0 pool=Default slots=1-2
yes
list volumes pool=Default"
expect "Volume=\"$vol1\"" "a label for $vol1"
expect "Volume=\"$vol2\"" "a label for $vol2"
[ "$(grep -c '3000 OK label' "$last")" = 2 ] || fail "expected two '3000 OK label' lines"
expect "\\| *$vol1 *\\|.*\\| *1 *\\|" "$vol1 in the catalog"

phase "backup through the autochanger"
bcon <<<"run job=BackupOne yes
wait
messages
list jobs"
expect 'Termination: +Backup OK' "Backup OK"
jobid=$(sed -n 's/.*JobId \([0-9]*\) queued.*/\1/p; s/^Job queued. JobId=\([0-9]*\)$/\1/p' "$last" | head -n 1)
[ -n "$jobid" ] || fail "no JobId in the run output"
expect "Volume name\\(s\\): +($vol1|$vol2)\$" "the backup on $vol1 or $vol2"
vol=$(sed -n 's/^ *Volume name(s): *\([^ ]*\) *$/\1/p' "$last" | head -n 1)
echo "   backup written to $vol"

phase "restore job $jobid and compare"
bcon <<<"restore jobid=$jobid client=rig-fd where=$W/restore all done yes
wait
messages"
expect 'Termination: +Restore OK' "Restore OK"
expect "Ready to read from volume \"$vol\"" "the restore to read $vol"
restored=$W/restore$W/data
[ -d "$restored" ] || fail "nothing restored under $restored"
diff -r --no-dereference "$W/data" "$restored" >"$W/log/diff.txt" 2>&1 ||
	fail "restored tree differs: $(head -c 2000 "$W/log/diff.txt")"
orig=$(cd "$W/data" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
back=$(cd "$restored" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
[ "$orig" = "$back" ] || fail "sha256 lists differ"
[ "$(readlink "$restored/link-to-f1")" = sub/f1 ] || fail "symlink not restored"
echo "   restored $(echo "$orig" | wc -l) files, identical (diff -r, sha256)"
if [ -n "$daemon" ]; then
	phase "stop Bacula, then changerd; did changerd answer every Changer Command?"
	stop_daemons
	for ((i = 0; i < 300; i++)); do # Bacula's daemons gone: nobody calls the changer any more
		alive=0
		for f in "$W"/run/*.pid; do
			pid=$(cat "$f" 2>/dev/null) || continue # removed by its daemon as it stopped
			[ -d "/proc/$pid" ] && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	kill -TERM "$daemon_pid"
	for ((i = 0; i < 600; i++)); do
		case $(proc_state "$daemon_pid") in '' | Z) break ;; esac
		sleep 0.1
	done
	case $(proc_state "$daemon_pid") in '' | Z) ;; *) fail "changerd did not stop within 60 s of SIGTERM" ;; esac
	rc=0
	wait "$daemon_pid" || rc=$?
	daemon_pid=
	[ "$rc" = 0 ] || fail "changerd exited with status $rc after SIGTERM (want 0)"
	invoked=$(grep -c ' invoked ' "$W/log/changer.log") || true
	answered=$(grep -c 'answered by changerd' "$W/log/changer.log") || true
	served=$(grep -c 'request started' "$W/log/changerd.log") || true
	echo "   $invoked Changer Commands; $answered answered by changerd; changerd served $served requests and exited 0 on SIGTERM"
	[ "$invoked" -gt 0 ] || fail "the changer log shows no invocation"
	[ "$answered" = "$invoked" ] || fail "$((invoked - answered)) of $invoked Changer Commands were not answered by changerd"
	[ "$served" = "$invoked" ] || fail "changerd logged $served requests for $invoked Changer Commands"
fi
phase "done"
echo "bacula-e2e: OK ($VTL_LIBRARY library, Changer Command \"$cmd\"${daemon:+, through changerd (cache $daemon_cache)}, $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms)"
