# shellcheck shell=bash
# library.sh — the rig's tape libraries: definitions and how to build them in tgt (bash module).
#
# usage (bash):  . scripts/rig/library.sh
#                library_load small|aws          # fills the LIB_* variables below
#                library_images DIR              # pristine tape images (tgtimg, sparse)
#                library_configure CN TAPEDIR STATEDIR   # configure a running tgtd
#
# A library is a file libraries/<name>.sh defining `library_define`, which describes the
# library with these calls (nothing else):
#   lib_changer IQN LUN VENDOR PRODUCT SERIAL      the media changer LU
#   lib_range transport|storage|ie|drive START COUNT   an element address range
#   lib_drive ADDR IQN LUN VENDOR PRODUCT SERIAL   a tape drive LU bound to drive element ADDR
#   lib_tape ADDR BARCODE data|clean               a cartridge in storage or I/E element ADDR
# and LIB_TAPE_MB (logical tape size; images are thin, a few KB on disk).
#
# After library_load:
#   LIB_NAME, LIB_CHANGER_{IQN,LUN,VENDOR,PRODUCT,SERIAL}, LIB_TAPE_MB,
#   LIB_RANGES[]  "type start count"
#   LIB_DRIVES[]  "addr iqn lun vendor product serial", sorted by element address
#   LIB_TAPES[]   "addr barcode kind"
#
# tgt 1.0.85 facts this relies on (../shared/reference/test-env.md §2): every tape drive LU
# needs a backing file even when empty (here notape-<serial>, with online=0) and removable=1,
# or MOVE MEDIUM to/from it fails; a MOVE into a drive opens media_home/<barcode>; element
# ranges and slot contents are set with `--params element_type=…`; the inventory lives in
# tgtd's memory only, so a tgtd restart gives back exactly this initial state.

LIB_RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

lib_changer() {
	LIB_CHANGER_IQN=$1 LIB_CHANGER_LUN=$2 LIB_CHANGER_VENDOR=$3
	LIB_CHANGER_PRODUCT=$4 LIB_CHANGER_SERIAL=$5
}
lib_range() { LIB_RANGES+=("$1 $2 $3"); }
lib_drive() { LIB_DRIVES+=("$1 $2 $3 $4 $5 $6"); }
lib_tape() { LIB_TAPES+=("$1 $2 $3"); }

library_load() {
	local name=$1
	case $name in
	small | aws) ;;
	*)
		echo "library: unknown library '$name' (small or aws)" >&2
		return 1
		;;
	esac
	LIB_NAME=$name LIB_RANGES=() LIB_DRIVES=() LIB_TAPES=() LIB_TAPE_MB=256
	# shellcheck source=/dev/null
	. "$LIB_RIG_DIR/libraries/$name.sh"
	library_define
	local sorted
	sorted=$(printf '%s\n' "${LIB_DRIVES[@]}" | sort -n -k1,1)
	mapfile -t LIB_DRIVES <<<"$sorted"
}

# A key that changes whenever the images library_images would build change.
library_key() {
	{
		cat "$LIB_RIG_DIR/library.sh" "$LIB_RIG_DIR/libraries/$LIB_NAME.sh"
		tgtimg -h 2>&1 | head -n 2
	} | md5sum | cut -c1-12
}

# library_images DIR: one thin tgtimg image per cartridge (named by barcode, as tgt's
# media_home wants) and one empty "notape-<serial>" backing file per drive.
library_images() {
	local dir=$1 t addr barcode kind d serial
	mkdir -p "$dir"
	for t in "${LIB_TAPES[@]}"; do
		read -r addr barcode kind <<<"$t"
		tgtimg --op new --device-type tape --barcode "$barcode" --size "$LIB_TAPE_MB" \
			--type "$kind" --file "$dir/$barcode" --thin-provisioning >/dev/null ||
			{ echo "library: tgtimg $barcode failed" >&2; return 1; }
	done
	for d in "${LIB_DRIVES[@]}"; do
		serial=${d##* }
		tgtimg --op new --device-type tape --barcode "NOTAPE" --size 1 --type clean \
			--file "$dir/notape-$serial" --thin-provisioning >/dev/null ||
			{ echo "library: tgtimg notape-$serial failed" >&2; return 1; }
	done
}

# library_requests TAPEDIR STATEDIR: print the tgt configuration of the library as request
# lines for tgt-ipc.pl (format documented there): targets, drive LUs, the changer LU, its element
# ranges, drive bindings and cartridges. TAPEDIR holds library_images' files (writable: tgt
# writes the data there); STATEDIR gets the changer's (unused, required) backing file.
library_requests() {
	local tapes=$1 state=$2
	local -A tid=() etype=([transport]=1 [storage]=2 [ie]=3 [drive]=4)
	local next=1 d addr iqn lun vendor product serial r type start count t barcode kind ct cl
	_target() { # IQN: create the target once, remember its tid
		[ -n "${tid[$1]:-}" ] && return 0
		tid[$1]=$next
		next=$((next + 1))
		echo "target ${tid[$1]} $1"
		echo "bind ${tid[$1]}"
	}
	for d in "${LIB_DRIVES[@]}"; do
		read -r addr iqn lun vendor product serial <<<"$d"
		_target "$iqn"
		echo "lu ${tid[$iqn]} $lun $tapes/notape-$serial tape"
		echo "update ${tid[$iqn]} $lun vendor_id=$vendor,product_id=$product,scsi_sn=$serial,removable=1,online=0"
	done
	_target "$LIB_CHANGER_IQN"
	ct=${tid[$LIB_CHANGER_IQN]} cl=$LIB_CHANGER_LUN
	: >"$state/smc"
	echo "lu $ct $cl $state/smc changer"
	echo "update $ct $cl vendor_id=$LIB_CHANGER_VENDOR,product_id=$LIB_CHANGER_PRODUCT,scsi_sn=$LIB_CHANGER_SERIAL,removable=1"
	echo "update $ct $cl media_home=$tapes"
	for r in "${LIB_RANGES[@]}"; do
		read -r type start count <<<"$r"
		echo "update $ct $cl element_type=${etype[$type]},start_address=$start,quantity=$count"
	done
	for d in "${LIB_DRIVES[@]}"; do
		read -r addr iqn lun vendor product serial <<<"$d"
		echo "update $ct $cl element_type=4,address=$addr,tid=${tid[$iqn]},lun=$lun"
	done
	for t in "${LIB_TAPES[@]}"; do
		read -r addr barcode kind <<<"$t"
		type=2
		for r in "${LIB_RANGES[@]}"; do
			read -r _ start count <<<"$r"
			case $r in ie\ *) ((addr >= start && addr < start + count)) && type=3 ;; esac
		done
		echo "update $ct $cl element_type=$type,address=$addr,barcode=$barcode,sides=1"
	done
}

# library_configure CN TAPEDIR STATEDIR: configure the library in the tgtd listening on control
# port CN — in one process with tgt-ipc.pl, or with one tgtadm call per request when
# VTL_TGTADM=1 (slow under UML, but the reference for tgt-ipc.pl).
library_configure() {
	local cn=$1 req
	req=$(library_requests "$2" "$3") || return 1
	if [ "${VTL_TGTADM:-0}" != 1 ]; then
		perl "$LIB_RIG_DIR/tgt-ipc.pl" "$cn" <<<"$req"
		return
	fi
	local what a b c d err=$3/tgtadm.err
	while read -r what a b c d; do
		case $what in
		target) set -- --op new --mode target --tid "$a" -T "$b" ;;
		bind) set -- --op bind --mode target --tid "$a" -I ALL ;;
		lu) set -- --op new --mode logicalunit --tid "$a" --lun "$b" -b "$c" --device-type "$d" ;;
		update) set -- --op update --mode logicalunit --tid "$a" --lun "$b" --params "$c" ;;
		esac
		# No $(…) capture: under UML the extra fork doubles the cost of each call.
		tgtadm -C "$cn" --lld iscsi "$@" 2>"$err" ||
			{ echo "library: tgtadm $* failed: $(cat "$err")" >&2; return 1; }
	done <<<"$req"
}
