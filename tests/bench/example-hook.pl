#!/usr/bin/perl
# tests/bench/example-hook.pl — B1 contestant (b): the pattern of Proxmox's own example hookscript
# (pve-docs, examples/guest-example-hookscript.pl, which `qm` users copy to local:snippets/): perl
# starts, takes VMID and PHASE, prints a line per phase and does nothing else. Written from its
# structure for the benchmark, not copied.
use strict;
use warnings;

print "GUEST HOOK: " . join(' ', @ARGV) . "\n";

my $vmid = shift;
my $phase = shift;

if ($phase eq 'pre-start') {
    print "$vmid is starting, doing preparations.\n";
} elsif ($phase eq 'post-start') {
    print "$vmid started successfully.\n";
} elsif ($phase eq 'pre-stop') {
    print "$vmid will be stopped.\n";
} elsif ($phase eq 'post-stop') {
    print "$vmid stopped. Doing cleanup.\n";
} else {
    die "got unknown phase '$phase'\n";
}

exit(0);
