# shellcheck shell=bash
# claim / unclaim / claim --udev through the real binary on a fixture tree (host-driver: a GTX 1080 Ti
# and its audio on nvidia + snd_hda_intel, VM 100 has the slot). Sourced by tests/cli/run.sh.

cr=$scratch/claim-host
cp -a "$fixtures/host-driver" "$cr"
before=$(snapshot "$cr")
expect "claim: no argument is bad usage" 2 "claim: expected arguments" -- "$bin" --root "$cr" claim
expect "claim: a word that is neither VMID nor address" 2 "invalid VMID or PCI address 'frob'" -- "$bin" --root "$cr" claim frob
expect "claim --udev wants a full address" 2 "expected DDDD:BB:SS.F" -- "$bin" --root "$cr" claim --udev 01:00.0
expect "unclaim does not take --udev" 2 "unclaim does not take --udev" -- "$bin" --root "$cr" unclaim --udev 0000:01:00.0
expect "claim does not take --json" 2 "claim does not take --json" -- "$bin" --root "$cr" claim 100 --json
expect "claim --dry-run says what it would do" 0 "0000:01:00.0 \\(10de:1b06\\): would be claimed for VM 100, pin none" -- \
        "$bin" --root "$cr" --dry-run claim 100
expect "claim of a VM without config: exit 1 naming the file" 1 "/etc/pve/qemu-server/555.conf" -- "$bin" --root "$cr" claim 555
expect "claim --udev of an unclaimed function prints nothing for udev" 0 "^$" -- "$bin" --root "$cr" claim --udev 0000:01:00.0
after=$(snapshot "$cr")
if [ "$before" = "$after" ]; then ok "claim: rejected and dry runs changed nothing"; else not_ok "claim: rejected and dry runs changed nothing" "$(diff <(echo "$before") <(echo "$after") | head)"; fi
expect "claim 100: a host driver holds it: next boot only" 0 "bound to nvidia now: claimed for the next boot only" -- \
        "$bin" --root "$cr" claim 100
if grep -qx 'by=100' "$cr/etc/pve-gpu-reset.d/claims/0000:01:00.0" && grep -qx 'pin=none' "$cr/etc/pve-gpu-reset.d/claims/0000:01:00.0"; then
        ok "claim 100: the record holds owner and pin"
else
        not_ok "claim 100: the record holds owner and pin" "$(cat "$cr/etc/pve-gpu-reset.d/claims/0000:01:00.0" 2>&1)"
fi
if [ "$(readlink "$cr/sys/bus/pci/devices/0000:01:00.0/driver" | sed 's|.*/||')" = nvidia ]; then ok "claim 100: nvidia not unbound"; else not_ok "claim 100: nvidia not unbound"; fi
expect "claim by address of the same GPU adds a manual owner" 0 "claimed by hand, pin none \\(claim updated\\)" -- \
        "$bin" --root "$cr" claim 01:00.0
expect "unclaim 100 keeps what the manual claim holds" 0 "0000:01:00.0: VM 100 no longer claims it; still claimed by manual" -- \
        "$bin" --root "$cr" unclaim 100
expect "unclaim by slot removes the rest" 0 "0000:01:00.0: unclaimed" -- "$bin" --root "$cr" unclaim 01:00
expect "unclaim of nothing" 0 "nothing claimed" -- "$bin" --root "$cr" unclaim 01:00
printf 'format=1\nid=zz\n' > "$cr/etc/pve-gpu-reset.d/claims/0000:01:00.1"
expect "doctor names a malformed claim and the fix" 1 "0000:01:00.1:2: not a claim record line" -- "$bin" --root "$cr" doctor 100
expect "unclaim by address removes a malformed record" 0 "malformed claim record removed" -- "$bin" --root "$cr" unclaim 0000:01:00.1
