# libraries/aws.sh — an AWS Storage Gateway tape gateway (VTL) look-alike (sourced by
# scripts/rig/library.sh). Geometry as in ../shared/reference/baseline-mtx-changer.md.
#
# One iSCSI target per device, named like the gateway's (gateway id sgw-0a1b2c3d):
#   iqn.1997-05.com.amazon:sgw-0a1b2c3d-mediachanger   LUN 1: STK L700, serial LIB00001
#   iqn.1997-05.com.amazon:sgw-0a1b2c3d-tapedrive-01   LUN 1: IBM ULT3580-TD5, serial DRV00001
#   …                                       -tapedrive-10  LUN 1: serial DRV00010
# (tgt reserves LUN 0 of every target for its controller pseudo-device, so the devices are
# LUN 1; a real gateway uses LUN 0.)
# Elements: storage 1–1600 (mtx slots 1–1600), import/export 1601–3200 (mtx slots
# 1601–3200), transport 4000, drives 5000–5009 (AWS does not document the last two; assumed).
# Tapes: barcodes BARE%06X of 0x0A1F00 + n·0x1D3; n = 1..100 in storage slots 1–100
# (slot 1 = BARE0A20D3), n = 101..110 ("new" tapes) in I/E slots 1601–1610. All drives empty.
library_define() {
	local gw=iqn.1997-05.com.amazon:sgw-0a1b2c3d n iqn serial barcode
	lib_changer "$gw-mediachanger" 1 STK L700 LIB00001
	lib_range storage 1 1600
	lib_range ie 1601 1600
	lib_range transport 4000 1
	lib_range drive 5000 10
	# printf -v, not $(…): a fork per tape costs seconds under UML.
	for ((n = 1; n <= 10; n++)); do
		printf -v iqn '%s-tapedrive-%02d' "$gw" "$n"
		printf -v serial 'DRV%05d' "$n"
		lib_drive $((4999 + n)) "$iqn" 1 IBM ULT3580-TD5 "$serial"
	done
	for ((n = 1; n <= 110; n++)); do
		printf -v barcode 'BARE%06X' $((0x0A1F00 + n * 0x1D3))
		if ((n <= 100)); then
			lib_tape "$n" "$barcode" data
		else
			lib_tape $((1500 + n)) "$barcode" data
		fi
	done
	LIB_TAPE_MB=256
}
