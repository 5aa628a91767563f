#!/usr/bin/perl
# director-view.pl — what Bareos makes of one changer-command answer (a model, for tests).
#
# usage: director-view.pl OP EXIT_STATUS OUTPUT_FILE
#   OP           the changer command word: list listall slots loaded load unload transfer (other
#                words: the raw output is the view)
#   EXIT_STATUS  the command's exit status
#   OUTPUT_FILE  its stdout and stderr, merged as the storage daemon reads them (one pipe)
# Prints the view: lines starting with "# " are the messages the director or SD would log
# (rejected lines, duplicates), the other lines are what it keeps. Two commands whose views are
# equal are interchangeable for Bareos even when their bytes differ (e.g. Bacula's perl-era
# `listall` keeps 32-character tag padding, Bareos 25's awk version does not).
#
# Model, from ../shared/reference/bareos-protocol.md (Bareos 25, core/src/dird/sd_cmds.cc and
# core/src/stored/autochanger.cc):
#   list     §2.5 native_get_vol_list(listall=false): StripTrailingJunk; `3ddd ` lines are SD
#            messages; split at the first ':'; empty barcode skipped silently; slot must be all
#            digits and > 0; barcode must pass IsVolumeNameLegal; keyed by 100+slot, first wins
#   listall  §2.6: up to 5 ':' fields; type = first char (D/S/I, else unknown); D needs a drive
#            number < 100; S/I a slot > 0; state = first char of field 3; full S/I: volume =
#            field 4; full D: loaded-from = atoi(field 4), volume = field 5; first wins
#   slots    §2.7: first line only, leading blanks skipped, decimal digits, uint16
#   loaded   §2.2: the whole output, leading whitespace skipped, decimal digits, uint16; 0 or
#            no digits = empty; exit status ≠ 0 = slot unknown
#   load     §2.3: exit 0 = OK; otherwise "Source Element Address … is Empty" in the output makes
#            it a retryable empty-slot failure (-3), anything else a fatal one (-1)
#   unload   §2.4: exit status only
#   transfer §2.8: exit 0 and no `39dd ` message line = OK
# The list/listall part mirrors ../shared/compat-corpus/tools/director_view.py line for line
# (tests/rig/run-all.sh checks both agree on the corpus when it is present).
use strict;
use warnings;

@ARGV == 3 or die "usage: director-view.pl OP EXIT_STATUS OUTPUT_FILE\n";
my ($op, $rc, $file) = @ARGV;
open(my $fh, '<:raw', $file) or die "director-view: $file: $!\n";
my $data = do { local $/; <$fh> } // '';
close $fh;

sub atoi { my ($s) = @_; return $s =~ /\A\s*([+-]?\d+)/ ? int($1) : 0; }
sub is_an_integer { my ($s) = @_; return defined $s && $s =~ /\A[0-9]+\z/; }
sub uint16_prefix { # str_to_uint16(): skip whitespace, optional '+', digits, truncate to 16 bits
	my ($s) = @_;
	return $s =~ /\A\s*\+?(\d+)/ ? ($1 % 65536) : 0;
}

sub vol_list {
	my ($mode) = @_;
	my $listall = $mode eq 'listall';
	my (%entries, @msgs);
	my @lines = split /\n/, $data, -1;
	pop @lines if @lines && $lines[-1] eq '';
	for my $raw (@lines) {
		(my $line = $raw) =~ s/[ \r\n]+\z//;    # StripTrailingJunk
		if ($line =~ /\A3\d\d\d /) { push @msgs, "SD-MESSAGE passed to user: $line"; next; }
		my @parts = split /:/, $line, ($listall ? 5 : 2);
		@parts = ($line) if $line eq '';
		if (@parts < 2) {
			push @msgs, sprintf("ERROR Illegal output from autochanger %s: %s", $listall ? 'listall' : 'list', $line);
			next;
		}
		my ($addr, @e);
		if (!$listall) {
			my ($f1, $f2) = @parts;
			next if $f2 eq '';    # silently skipped
			if (!is_an_integer($f1) || atoi($f1) <= 0) { push @msgs, "ERROR Invalid Slot number: $f1"; next; }
			if ($f2 !~ /\A[A-Za-z0-9:.\-_\/]+\z/ || $f2 =~ /\A\// || length($f2) >= 128) {
				push @msgs, "ERROR Invalid Volume name: $f2";
				next;
			}
			@e = ('S', atoi($f1), 'F', undef, $f2);
			$addr = (100 + atoi($f1)) & 0xffff;
		} else {
			if (@parts < 3) { push @msgs, "ERROR Illegal output from autochanger listall: $line"; next; }
			my @f = (@parts, (undef) x (5 - @parts));
			my $t = { D => 'D', S => 'S', I => 'I' }->{ substr($f[0], 0, 1) } // '?';
			my $n;
			if ($t eq 'D') {
				$n = atoi($f[1]) & 0xffff;
				if (!is_an_integer($f[1]) || $n == 0xffff) { push @msgs, "ERROR Invalid Drive number: $f[1]"; next; }
				$addr = $n;
				if ($addr >= 100) { push @msgs, "ERROR Drive number $n greater then INDEX_MAX_DRIVES(100)"; next; }
			} else {
				$n = atoi($f[1]);
				if (!is_an_integer($f[1]) || $n <= 0) { push @msgs, "ERROR Invalid Slot number: $f[1]"; next; }
				$addr = (100 + $n) & 0xffff;
			}
			my $st = { E => 'E', F => 'F' }->{ substr($f[2], 0, 1) } // '?';
			my ($loaded, $vol);
			if ($st eq 'F') {
				if ($t eq 'S' || $t eq 'I') {
					$vol = $f[3];
				} elsif ($t eq 'D') {
					$loaded = atoi($f[3]) & 0xffff if defined $f[3];
					$vol = $f[4];
				}
			}
			@e = ($t, $n, $st, $loaded, $vol);
		}
		if (exists $entries{$addr}) { push @msgs, "DROPPED duplicate element address $addr: $line"; next; }
		$entries{$addr} = \@e;
	}
	print "# $_\n" for @msgs;
	for my $addr (sort { $a <=> $b } keys %entries) {
		my ($t, $n, $st, $loaded, $vol) = @{ $entries{$addr} };
		my $s = sprintf("%s %d %s", $t, $n, { E => 'empty', F => 'full', '?' => 'unknown' }->{$st});
		$s .= " loaded_from=$loaded" if defined $loaded;
		$s .= ' volume=' . (defined $vol ? "'$vol'" : 'NULL') if $st eq 'F';
		print "$s\n";
	}
}

if ($op eq 'list' || $op eq 'listall') {
	vol_list($op);
} elsif ($op eq 'slots') {
	my ($first) = split /\n/, $data, 2;
	my $n = uint16_prefix(substr($first // '', 0, 98));
	print $n ? "slots $n\n" : "slots 0 (director: \"No slots in changer to scan\")\n";
} elsif ($op eq 'loaded') {
	if ($rc != 0) {
		print "loaded: error (slot unknown; SD unloads before the next load)\n";
	} else {
		my $n = uint16_prefix($data);
		print $n ? "loaded slot $n\n" : "loaded nothing\n";
	}
} elsif ($op eq 'load') {
	if ($rc == 0) {
		print "load OK\n";
	} elsif ($data =~ /Source Element Address/ && $data =~ /is Empty/) {
		print "load failed: empty slot (-3, SD tries the next volume)\n";
	} else {
		print "load failed (-1, fatal to the job)\n";
	}
} elsif ($op eq 'unload') {
	print $rc == 0 ? "unload OK\n" : "unload failed\n";
} elsif ($op eq 'transfer') {
	print(($rc == 0 && $data !~ /^39\d\d /m) ? "transfer OK\n" : "transfer failed\n");
} else {
	print "exit $rc\n", $data;
}
