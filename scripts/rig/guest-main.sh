#!/bin/bash
# guest-main.sh — the rig guest's main program, run by guest-init.sh as root, chrooted into the
# host-root view (host / read-only + tmpfs overlay). Not meant to be run by hand.
#
# Reads the run's share directory (/run/rig/share, written by scripts/vtl-run):
#   run.env   rig settings: VTL_LIBRARY, VTL_UDEV, VTL_TAPES_SRC, VTL_DEADLINE (seconds of guest
#             uptime by which CMD must have ended)
#   cmd.sh    the caller's environment (exports), `cd` to the caller's directory, `exec CMD…`
# Writes share/out/:
#   stdout, stderr   CMD's output (appended; vtl-run streams them to the caller while we run)
#   files/           $VTL_OUT: whatever CMD leaves there survives on the host
#   rc               CMD's exit status, or 125 when the guest or the library failed to come up
#   rig-failed       only then: why
#   times            "boot_ms=… udev_ms=… library_ms=… cmd_ms=…" (guest-side phases)
# Everything else (bring-up trace, failures) goes to the guest console, which vtl-run logs.
set -u

share=/run/rig/share
out=$share/out
rig_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
uptime_s() { local u; read -r u _ </proc/uptime; echo "${u%.*}"; }
finish() {
	echo "$1" >"$out/rc.tmp" && mv "$out/rc.tmp" "$out/rc"
	sync
	exit 0
}
rig_failed() { # the guest or the library did not come up: 125, and vtl-run prints the console
	echo "guest-main: $*" >&2
	echo "$*" >"$out/rig-failed"
	finish 125
}

read -r up _ </proc/uptime
boot_ms=$((${up/./} * 10)) # uptime has centiseconds
# shellcheck source=/dev/null
. "$share/run.env" || rig_failed "cannot read run.env"
export VTL_LIBRARY VTL_UDEV VTL_TAPES_SRC

udev_ms=0
if [ "$VTL_UDEV" = 1 ]; then
	t=$(ms)
	/lib/systemd/systemd-udevd --daemon || rig_failed "systemd-udevd did not start"
	# The guest runs chrooted into its overlay: without this, udevadm's trigger and settle
	# answer "Running in chroot, ignoring request" and return at once.
	SYSTEMD_IGNORE_CHROOT=1 udevadm trigger --action=add >/dev/null 2>&1
	SYSTEMD_IGNORE_CHROOT=1 udevadm settle --timeout=60 || echo "guest-main: udevadm settle timed out" >&2
	udev_ms=$(($(ms) - t))
fi

t=$(ms)
"$rig_dir/vtl-ctl.sh" start "$VTL_LIBRARY" || rig_failed "the library did not come up"
library_ms=$(($(ms) - t))

# CMD: a clean environment (only what cmd.sh exports plus the device variables), stdin from
# /dev/null, bounded by the time left before vtl-run's own deadline.
left=$((VTL_DEADLINE - $(uptime_s)))
[ "$left" -gt 5 ] || left=5
t=$(ms)
timeout -k 5 "$left" env -i VTL_ENV=/run/vtl/devices.env VTL_CTL="$rig_dir/vtl-ctl.sh" VTL_OUT="$out/files" \
	/bin/bash "$share/cmd.sh" </dev/null >>"$out/stdout" 2>>"$out/stderr"
rc=$?
cmd_ms=$(($(ms) - t))
[ "$rc" = 124 ] && echo "guest-main: CMD did not end within ${left}s" >&2
echo "boot_ms=$boot_ms udev_ms=$udev_ms library_ms=$library_ms cmd_ms=$cmd_ms" >"$out/times"
finish "$rc"
