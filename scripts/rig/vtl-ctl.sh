#!/bin/bash
# vtl-ctl.sh — bring the tgt virtual tape library up or down inside the rig guest.
#
# usage (as root, inside the guest; scripts/vtl-run calls `start`, tests may call `restart`):
#   vtl-ctl.sh start [small|aws]   start tgtd on 127.0.0.1:3260 with the library, start iscsid,
#                                  log in, wait for the devices, write $VTL_ENV
#   vtl-ctl.sh restart             log out, stop tgtd, and start again: a freshly started library
#                                  (tgt keeps its inventory in memory only) with pristine tape
#                                  images; device names may change, so re-read $VTL_ENV after it
#   vtl-ctl.sh stop                log out and stop tgtd (iscsid keeps running)
#
# Environment (read by `start`; `restart` reuses what `start` saw, kept in /run/vtl/config):
#   VTL_LIBRARY      library when no argument is given (default small)
#   VTL_TAPES_SRC    directory of pristine tape images built by library_images on the host (by
#                    scripts/vtl-run); when unset or missing they are built here with tgtimg
#   VTL_UDEV=1       systemd-udevd runs: wait for `udevadm settle` so /dev/tape links exist
#
# $VTL_ENV (/run/vtl/devices.env) gets one NAME=value line each (values never need quoting):
#   VTL_LIBRARY   small|aws
#   CHANGER_SG    the changer's /dev/sgN          CHANGER_SCH   its /dev/schN
#   DRIVE<n>_NST  drive n's /dev/nstM             DRIVE<n>_SG   drive n's /dev/sgK
#   VTL_DRIVES    number of drives
# n is the drive index in element-address order (Bareos' Drive Index). Drive n is found by
# matching each tape device's VPD page 80h unit serial number (sysfs vpd_pg80) against the
# serial the library definition gives the drive at the n-th data-transfer element address —
# never by /dev/nstM numbering, which follows iSCSI login order.
#
# tgt 1.0.85 handling (test-env.md §2.3, §8): tgtd ignores SIGTERM, so it is stopped with
# `tgtadm --op delete` (targets with --force, then the system) and awaited through /proc;
# iscsid SIGTERMs its whole process group when it exits, so it runs under setsid; tgtd needs
# /var/run (a link to /run on Debian); iscsi_tcp's crc32c comes from the kernel (built in or
# crc32c_generic, loaded by guest-init.sh).
set -eu

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
. "$RIG_DIR/library.sh"

VTL_STATE=/run/vtl
VTL_ENV=$VTL_STATE/devices.env
CN=1 # tgtd control port (management socket /var/run/tgtd/socket.1)
PORTAL=127.0.0.1:3260
WAIT_DEVICES=${VTL_WAIT_DEVICES:-120} # seconds

say() { echo "vtl-ctl: $*" >&2; }
die() {
	say "FAILED: $*"
	exit 1
}

# A sleep without starting a process (a process start costs 20–70 ms under UML).
nap() {
	[ -p "$VTL_STATE/nap" ] || mkfifo "$VTL_STATE/nap"
	exec 9<>"$VTL_STATE/nap"
	read -r -t "$1" -u 9 _ || true
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

proc_alive() { # PID: running and not a zombie
	local stat
	[ -r "/proc/$1/stat" ] || return 1
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

start_tgtd() {
	mkdir -p "$VTL_STATE/tapes"
	if [ -n "${VTL_TAPES_SRC:-}" ] && [ -d "$VTL_TAPES_SRC" ]; then
		cp -a --sparse=always "$VTL_TAPES_SRC/." "$VTL_STATE/tapes/"
	else
		say "building tape images in the guest"
		library_images "$VTL_STATE/tapes"
	fi
	setsid tgtd -f -C "$CN" --iscsi "portal=$PORTAL" >>"$VTL_STATE/tgtd.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$VTL_STATE/tgtd.pid"
	for _ in $(seq 100); do
		tgtadm -C "$CN" --op show --mode system >/dev/null 2>&1 && return 0
		proc_alive "$pid" || break
		nap 0.1
	done
	cat "$VTL_STATE/tgtd.log" >&2
	die "tgtd did not start"
}

stop_tgtd() {
	local pid tid
	[ -f "$VTL_STATE/tgtd.pid" ] || return 0
	pid=$(cat "$VTL_STATE/tgtd.pid")
	if proc_alive "$pid"; then
		for tid in $(tgtadm -C "$CN" --lld iscsi --op show --mode target 2>/dev/null |
			sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
			tgtadm -C "$CN" --lld iscsi --op delete --mode target --tid "$tid" --force ||
				say "could not delete target $tid"
		done
		tgtadm -C "$CN" --op delete --mode system || say "tgtadm --op delete --mode system failed"
		for _ in $(seq 50); do
			proc_alive "$pid" || break
			nap 0.1
		done
		if proc_alive "$pid"; then
			say "tgtd $pid did not exit after 'tgtadm --op delete --mode system'; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$VTL_STATE/tgtd.pid"
	rm -rf "$VTL_STATE/tapes"
}

start_iscsid() {
	[ -f "$VTL_STATE/iscsid.started" ] && return 0
	mkdir -p /run/lock/iscsi /var/lib/iscsi/nodes /var/lib/iscsi/send_targets /var/lib/iscsi/ifaces
	# Debian's iscsid.conf would start iscsid through systemctl; there is no systemd here.
	sed -i 's|^iscsid.startup *=.*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf
	setsid iscsid >>"$VTL_STATE/iscsid.log" 2>&1 </dev/null ||
		die "iscsid did not start: $(cat "$VTL_STATE/iscsid.log")"
	: >"$VTL_STATE/iscsid.started"
}

login() {
	local out
	out=$(iscsiadm -m discovery -t sendtargets -p "$PORTAL" 2>&1) || die "iSCSI discovery: $out"
	out=$(iscsiadm -m node -p "$PORTAL" --login 2>&1) || die "iSCSI login: $out"
}

logout() {
	local d type left
	iscsiadm -m node -p "$PORTAL" --logout >/dev/null 2>&1 || true
	iscsiadm -m node -o delete >/dev/null 2>&1 || true
	for _ in $(seq 100); do # until the kernel has removed every tape and changer device
		left=0
		for d in /sys/bus/scsi/devices/*:*:*:*; do
			[ -r "$d/type" ] || continue
			read -r type <"$d/type"
			case $type in 1 | 8) left=$((left + 1)) ;; esac
		done
		[ "$left" -eq 0 ] && return 0
		nap 0.1
	done
	die "$left SCSI device(s) still attached after iSCSI logout"
}

# Wait until the changer and every drive are attached with all their device nodes.
wait_devices() {
	local want=${#LIB_DRIVES[@]} deadline=$(($(now_ms) + WAIT_DEVICES * 1000))
	local d type changers tapes
	while :; do
		changers=0 tapes=0
		for d in /sys/bus/scsi/devices/*:*:*:*; do
			[ -r "$d/type" ] || continue
			read -r type <"$d/type"
			case $type in
			8) [ -e "$d/scsi_generic" ] && [ -e "$d/scsi_changer" ] && changers=$((changers + 1)) ;;
			1) [ -e "$d/scsi_generic" ] && tape_nst "$d" && tapes=$((tapes + 1)) ;;
			esac
		done
		if [ "$changers" -eq 1 ] && [ "$tapes" -eq "$want" ]; then
			break
		fi
		[ "$(now_ms)" -lt "$deadline" ] ||
			die "devices did not appear within ${WAIT_DEVICES}s: $changers changer(s), $tapes of $want drives"
		nap 0.1
	done
	if [ "${VTL_UDEV:-0}" = 1 ]; then
		udevadm settle --timeout=60 || say "udevadm settle timed out"
	fi
}

# Device names from sysfs, without starting processes: each sets REPLY or returns 1.
tape_nst() { # device dir -> nstN (the no-rewind node, not the nstNa/l/m mode nodes)
	local f
	for f in "$1"/scsi_tape/nst*; do
		f=${f##*/}
		[[ $f =~ ^nst[0-9]+$ ]] && { REPLY=$f; return 0; }
	done
	return 1
}
class_dev() { # device dir, class (scsi_generic|scsi_changer) -> sgN|schN
	local f=("$1/$2"/*)
	[ -e "${f[0]}" ] || return 1
	REPLY=${f[0]##*/}
}

write_env() {
	local d type serial n addr iqn lun want f dev
	local -A nst_of=() sg_of=()
	local changer_sg='' changer_sch=''
	for d in /sys/bus/scsi/devices/*:*:*:*; do
		[ -r "$d/type" ] || continue
		read -r type <"$d/type"
		case $type in
		8)
			[ -z "$changer_sg" ] || die "more than one media changer attached"
			class_dev "$d" scsi_generic && changer_sg=/dev/$REPLY
			class_dev "$d" scsi_changer && changer_sch=/dev/$REPLY
			;;
		esac
	done
	# VPD 80h serial of every tape device, in one process: the page is a 4-byte header then the
	# serial (tgt right-aligns it in spaces); the header holds no run of 4 alphanumerics.
	while read -r f; do # "<sysfs path with colons>/vpd_pg80:<serial>"
		serial=${f##*:}
		d=${f%/vpd_pg80:*}
		read -r type <"$d/type"
		[ "$type" = 1 ] || continue
		tape_nst "$d" && nst_of[$serial]=/dev/$REPLY
		class_dev "$d" scsi_generic && sg_of[$serial]=/dev/$REPLY
	done < <(LC_ALL=C grep -a -H -o '[[:alnum:]_.-]\{4,\}' /sys/bus/scsi/devices/*/vpd_pg80 2>/dev/null)

	{
		echo "VTL_LIBRARY=$LIB_NAME"
		echo "CHANGER_SG=$changer_sg"
		echo "CHANGER_SCH=$changer_sch"
		n=0
		for want in "${LIB_DRIVES[@]}"; do
			read -r addr iqn lun _ _ serial <<<"$want"
			[ -n "${nst_of[$serial]:-}" ] ||
				die "no tape device reports serial $serial (drive $n, element $addr, $iqn LUN $lun)"
			echo "DRIVE${n}_NST=${nst_of[$serial]}"
			echo "DRIVE${n}_SG=${sg_of[$serial]}"
			n=$((n + 1))
		done
		echo "VTL_DRIVES=$n"
	} >"$VTL_ENV.tmp"
	while IFS='=' read -r _ dev; do
		case $dev in /dev/*) [ -c "$dev" ] || die "$dev is not a character device" ;; esac
	done <"$VTL_ENV.tmp"
	mv "$VTL_ENV.tmp" "$VTL_ENV"
}

cmd_start() {
	local t0 t1
	t0=$(now_ms)
	mkdir -p "$VTL_STATE"
	if [ -f "$VTL_STATE/config" ]; then
		# shellcheck source=/dev/null
		. "$VTL_STATE/config"
	else
		VTL_LIBRARY=${1:-${VTL_LIBRARY:-small}}
		printf 'VTL_LIBRARY=%q\nVTL_TAPES_SRC=%q\nVTL_UDEV=%q\n' \
			"$VTL_LIBRARY" "${VTL_TAPES_SRC:-}" "${VTL_UDEV:-0}" >"$VTL_STATE/config"
	fi
	library_load "$VTL_LIBRARY" || die "bad library"
	start_tgtd
	library_configure "$CN" "$VTL_STATE/tapes" "$VTL_STATE" || die "library configuration failed"
	t1=$(now_ms)
	start_iscsid
	login
	wait_devices
	write_env
	say "library $LIB_NAME up in $(($(now_ms) - t0)) ms (tgt configured in $((t1 - t0)) ms)"
}

cmd_stop() {
	logout
	stop_tgtd
}

case ${1:-} in
start)
	shift
	cmd_start "$@"
	;;
stop) cmd_stop ;;
restart)
	[ -f "$VTL_STATE/config" ] || die "restart: the library was never started"
	cmd_stop
	cmd_start
	;;
*)
	echo "usage: vtl-ctl.sh start [small|aws] | restart | stop" >&2
	exit 2
	;;
esac
