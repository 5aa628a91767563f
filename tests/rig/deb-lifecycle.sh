#!/bin/bash
# deb-lifecycle.sh — the Debian package's life in the rig guest (host-root overlay, no systemd
# as PID 1): install, upgrade, reinstall, the daemon started the unit's way, purge.
#
# usage: CHANGER_DEB=target/debian/changer_<v>_amd64.deb scripts/vtl-run --udev -- tests/rig/deb-lifecycle.sh
#
# Steps (each must succeed, or the script says which and exits 1):
#   1. a "previous build" (the same tree, version <v>~prev) installs on a system without the
#      package: user and group `changer` (system, nologin, home /var/lib/changer, in `tape`),
#      Bacula's user added to `changer` (and still in `tape`), /run/lock/changer root:changer
#      2770, the conffile in place
#   2. <v> upgrades it, then installs over itself; the conffile is not replaced
#   3. changerd runs the unit's way: its ExecStart line, as its User/Group/SupplementaryGroups,
#      no capabilities, with the directories systemd would create (StateDirectory,
#      RuntimeDirectory, LogsDirectory); Bacula's user asks `changer status` of the rig's
#      library through the daemon's socket ("answered by changerd"); Bacula's end-to-end job
#      (tests/rig/bacula-e2e.sh) with Changer Command /usr/bin/changer and the installed
#      configuration goes through this daemon (its move journal fills); SIGTERM → exit 0
#   4. purge: no user, no group, none of the package's files or directories, nothing new left
#      under /etc, /usr, /var/lib, /run/lock (compared with a listing taken before step 1);
#      Bacula's user still exists and is still in `tape`
set -u
: "${CHANGER_DEB:?CHANGER_DEB= the .deb to test}"
fail() { echo "FAIL: $*"; [ -n "${log:-}" ] && [ -f "$log" ] && tail -n 30 "$log"; exit 1; }
step() { echo "--- $*"; }
work=$(mktemp -d /tmp/deb-lifecycle.XXXXXX)
export DEBIAN_FRONTEND=noninteractive
# man-db's trigger rebuilds every index; under UML each file it opens holds a host descriptor
# (hostfs), and the run dies of "Too many open files". The man pages are not what is tested.
rm -f /var/lib/man-db/auto-update

listing() {
    find /etc /usr /var/lib /run/lock -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \) -prune \
        -o -print 2>/dev/null | LC_ALL=C sort
}
listing > "$work/before"

# 1. the previous build
step "install the previous build"
dpkg-deb -R "$CHANGER_DEB" "$work/prev" || fail "dpkg-deb -R"
version=$(dpkg-deb -f "$CHANGER_DEB" Version)
sed -i "s/^Version: .*/Version: ${version}~prev/" "$work/prev/DEBIAN/control"
dpkg-deb --build --root-owner-group "$work/prev" "$work/prev.deb" >/dev/null || fail "repack"
dpkg -i "$work/prev.deb" || fail "dpkg -i of the previous build"
[ "$(dpkg-query -W -f '${Version}' changer)" = "${version}~prev" ] || fail "previous version not installed"
getent group changer >/dev/null || fail "no group changer"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd changer) || fail "no user changer"
[ "$uid" -lt 1000 ] || fail "user changer is not a system user (uid $uid)"
[ "$home" = /var/lib/changer ] || fail "home of changer is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "shell of changer is $shell"
id -nG changer | grep -qw tape || fail "changer is not in tape: $(id -nG changer)"
if getent passwd bacula >/dev/null; then
    id -nG bacula | grep -qw changer || fail "bacula is not in changer: $(id -nG bacula)"
    id -nG bacula | grep -qw tape || fail "bacula lost tape: $(id -nG bacula)"
fi
[ "$(stat -c '%a %U %G' /run/lock/changer)" = "2770 root changer" ] \
    || fail "/run/lock/changer is $(stat -c '%a %U %G' /run/lock/changer)"
[ -f /etc/changer/changer.toml ] || fail "no conffile"
echo "ok: user, group, memberships, lock directory, conffile"

# 2. upgrade, then reinstall over itself; a changed conffile is kept
step "upgrade to $version, then install it over itself"
echo "# local change" >> /etc/changer/changer.toml
dpkg -i --force-confold "$CHANGER_DEB" || fail "upgrade"
[ "$(dpkg-query -W -f '${Version}' changer)" = "$version" ] || fail "not upgraded"
dpkg -i --force-confold "$CHANGER_DEB" || fail "reinstall"
tail -n 1 /etc/changer/changer.toml | grep -q "local change" || fail "the conffile was replaced"
echo "ok: upgraded and reinstalled, conffile kept"

# 3. the daemon, started the unit's way
step "changerd as the unit runs it"
unit=/usr/lib/systemd/system/changerd.service
key() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
exec_start=$(key ExecStart); user=$(key User); group=$(key Group); extra=$(key SupplementaryGroups)
echo "ExecStart=$exec_start User=$user Group=$group SupplementaryGroups=$extra"
for d in /var/lib/changer /var/log/changer; do
    install -d -o "$user" -g "$group" -m 0750 "$d"
done
# The socket's directory is tmpfiles.d's (the postinst ran it): only group changer gets in.
[ "$(stat -c '%U:%G %a' /run/changer)" = "changer:changer 750" ] ||
    fail "/run/changer is $(stat -c '%U:%G %a' /run/changer), not changer:changer 750"
ls -lL "$CHANGER_SG" "$DRIVE0_NST" 2>/dev/null
[ "$(stat -L -c %G "$CHANGER_SG")" = tape ] || fail "udev did not give $CHANGER_SG to group tape"
log=$work/changerd.log
# shellcheck disable=SC2086 # the ExecStart line is split like systemd splits it (no quotes in it)
setpriv --reuid="$user" --regid="$group" --groups="$group,$extra" --inh-caps=-all --bounding-set=-all \
    --no-new-privs -- $exec_start > "$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    [ -S /run/changer/changer.sock ] && break
    kill -0 "$pid" 2>/dev/null || fail "changerd exited"
    sleep 0.2
done
[ -S /run/changer/changer.sock ] || fail "no socket"
out=$(setpriv --reuid=bacula --regid=bacula --init-groups -- /usr/bin/changer status "$CHANGER_SG" 2>&1) \
    || { echo "$out"; fail "changer status as bacula"; }
echo "$out" | grep "answered by changerd" || { echo "$out"; fail "not answered by changerd"; }
slots=$(setpriv --reuid=bacula --regid=bacula --init-groups -- /usr/bin/changer "$CHANGER_SG" slots) \
    || fail "changer slots as bacula"
echo "slots (protocol mode, as bacula): $slots"
# Bacula's end-to-end job with the installed changer as its Changer Command: no --config, so
# /etc/changer/changer.toml and the default socket, where this changerd answers.
CHANGER_CMD=/usr/bin/changer "$(dirname "$0")/bacula-e2e.sh" > "$work/bacula.log" 2>&1 \
    || { tail -n 40 "$work/bacula.log"; fail "Bacula end to end with /usr/bin/changer"; }
grep -E '^== |OK' "$work/bacula.log" | tail -n 4
moves=$(cat /var/lib/changer/*.journal 2>/dev/null | wc -l)
[ "$moves" -gt 0 ] || fail "changerd journalled no move: Bacula's Changer Commands did not go through it"
echo "ok: Bacula's job ran through /usr/bin/changer and changerd ($moves journal lines)"
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] || fail "changerd exited $rc on SIGTERM"
echo "ok: changerd ran as $user:$group+$extra, answered bacula, exit 0 on SIGTERM"
log=

# 4. purge
step "purge"
dpkg --purge changer || fail "purge"
getent passwd changer >/dev/null && fail "user changer left"
getent group changer >/dev/null && fail "group changer left"
if getent passwd bacula >/dev/null; then
    id -nG bacula | grep -qw tape || fail "bacula lost tape"
fi
listing > "$work/after"
stray=$(comm -13 "$work/before" "$work/after")
[ -z "$stray" ] || { echo "$stray"; fail "stray files after purge"; }
for p in /usr/bin/changer /usr/sbin/changerd /etc/changer /var/lib/changer /run/changer /run/lock/changer; do
    [ -e "$p" ] && fail "$p left"
done
echo "ok: purged, nothing left"
rm -rf "$work"
echo "PASS deb-lifecycle"
