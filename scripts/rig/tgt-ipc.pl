#!/usr/bin/perl
# tgt-ipc.pl — apply a list of tgt configuration requests in ONE process, over tgtd's management
# socket, exactly as `tgtadm` would send them one process each.
#
# usage: tgt-ipc.pl CONTROL_PORT < requests
#
# Why: under user-mode Linux every process start costs 20–70 ms, and the aws library needs ~170
# tgtadm calls (13 s); this sends the same requests in well under a second. library.sh can run
# the same request list through tgtadm instead (VTL_TGTADM=1), and tests/rig/smoke.sh checks that
# both give tgtd the same configuration.
#
# Request lines (the tgtadm equivalent in brackets; blank lines and #-comments are skipped):
#   target TID IQN            [tgtadm --op new --mode target --tid TID -T IQN]
#   bind TID                  [tgtadm --op bind --mode target --tid TID -I ALL]
#   lu TID LUN PATH TYPE      [tgtadm --op new --mode logicalunit --tid TID --lun LUN -b PATH
#                              --device-type TYPE]      (TYPE: tape or changer)
#   update TID LUN PARAMS     [tgtadm --op update --mode logicalunit --tid TID --lun LUN
#                              --params PARAMS]
#
# Wire format (tgt 1.0.85, usr/tgtadm.h, checked against `strace tgtadm`): a 120-byte request
# header {u32 mode, u32 op, char lld[64], u32 len, i32 tid, u64 sid, u64 lun, u32 cid,
# u32 host_no, u32 device_type, u32 ac_dir, u32 pack, u32 force} (little endian; len counts the
# header and the parameter string), then the NUL-terminated parameter string; the answer is
# {u32 err, u32 len} and len-8 bytes of text. One request per connection, as tgtadm does.
# Exits non-zero, naming the request, at the first error.
use strict;
use warnings;

my $cn = shift // die "usage: tgt-ipc.pl CONTROL_PORT < requests\n";
my $sock_path = "/var/run/tgtd/socket.$cn";
my ($MODE_TARGET, $MODE_DEVICE) = (1, 2);
my ($OP_NEW, $OP_BIND, $OP_UPDATE) = (0, 3, 5);
my %dev_type = (tape => 1, changer => 8);
my $NO_LUN = ~0;    # u64 all ones: "no LUN given"

sub request {
	my ($line, $mode, $op, $tid, $lun, $type, $params) = @_;
	socket(my $s, 1, 1, 0) or die "tgt-ipc: socket: $!\n";    # AF_UNIX, SOCK_STREAM
	connect($s, pack('S Z108', 1, $sock_path)) or die "tgt-ipc: connect $sock_path: $!\n";
	my $p = "$params\0";
	my $msg = pack('L L a64 L l Q Q L L L L L L',
		$mode, $op, 'iscsi', 120 + length($p), $tid, 0, $lun, 0, 0, $type, 0, 0, 0) . $p;
	while (length $msg) {
		my $n = syswrite($s, $msg) // die "tgt-ipc: write: $!\n";
		substr($msg, 0, $n) = '';
	}
	my $rsp = '';
	while (length($rsp) < 8) {
		my $n = sysread($s, $rsp, 8 - length($rsp), length($rsp)) // die "tgt-ipc: read: $!\n";
		die "tgt-ipc: tgtd closed the connection on: $line\n" if $n == 0;
	}
	my ($err, $len) = unpack('L L', $rsp);
	my $text = '';
	while (length($text) < $len - 8) {
		my $n = sysread($s, $text, $len - 8 - length($text), length($text)) or last;
	}
	close $s;
	die "tgt-ipc: tgtd refused (error $err): $line\n" if $err;
}

while (my $line = <STDIN>) {
	chomp $line;
	next if $line =~ /^\s*(#|$)/;
	my @f = split ' ', $line;
	my $what = $f[0];
	if ($what eq 'target' && @f == 3) {
		request($line, $MODE_TARGET, $OP_NEW, $f[1], $NO_LUN, 0, "targetname=$f[2]");
	} elsif ($what eq 'bind' && @f == 2) {
		request($line, $MODE_TARGET, $OP_BIND, $f[1], $NO_LUN, 0, 'initiator-address=ALL');
	} elsif ($what eq 'lu' && @f == 5 && exists $dev_type{$f[4]}) {
		# tgtadm names the tape backing-store type itself; tgtd picks smc for a changer.
		my $params = "path=$f[3]" . ($f[4] eq 'tape' ? ',bstype=ssc' : '');
		request($line, $MODE_DEVICE, $OP_NEW, $f[1], $f[2], $dev_type{$f[4]}, $params);
	} elsif ($what eq 'update' && @f == 4) {
		request($line, $MODE_DEVICE, $OP_UPDATE, $f[1], $f[2], 0, "targetOps $f[3],");
	} else {
		die "tgt-ipc: bad request line: $line\n";
	}
}
