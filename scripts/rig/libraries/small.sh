# libraries/small.sh — the rig's default library (sourced by scripts/rig/library.sh).
#
# One iSCSI target, iqn.2024-01.test.vtl:lib1:
#   LUN 1, 2  tape drives IBM ULT3580-TD5, serials DRV00001, DRV00002, element addresses 500, 501
#   LUN 3     media changer STK L700, serial LIB00001
# Elements (deliberately non-contiguous, like real libraries):
#   transport 1; import/export 10–11 (mtx slots 11–12); drives 500–501;
#   storage 1000–1009 (mtx slots 1–10)
# Tapes: TST001L5–TST008L5 in storage 1000–1007 (slots 1–8), cleaning tape CLN001L1 in 1009
# (slot 10), TST009L5 in import/export 10 (slot 11); slot 9, I/E slot 12 and both drives empty.
library_define() {
	local iqn=iqn.2024-01.test.vtl:lib1 i
	lib_changer "$iqn" 3 STK L700 LIB00001
	lib_range transport 1 1
	lib_range storage 1000 10
	lib_range ie 10 2
	lib_range drive 500 2
	lib_drive 500 "$iqn" 1 IBM ULT3580-TD5 DRV00001
	lib_drive 501 "$iqn" 2 IBM ULT3580-TD5 DRV00002
	for i in 1 2 3 4 5 6 7 8; do
		lib_tape $((999 + i)) "TST00${i}L5" data
	done
	lib_tape 1009 CLN001L1 clean
	lib_tape 10 TST009L5 data
	LIB_TAPE_MB=256
}
