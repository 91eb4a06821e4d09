# shellcheck shell=bash
# attach / detach through the real binary with a stand-in qm: the chained hookscript is recorded in the
# tool's /etc/pve-gpu-reset.d/vm-VMID.json, the policy file (a conffile) is never written, and --config
# names the same file for detach as for the hook. Sourced by tests/cli/run.sh.

ar=$scratch/attach-root
mkdir -p "$ar/etc/pve/qemu-server" "$ar/var/lib/vz/snippets" "$ar/run" "$ar/sys/bus/pci/devices" "$scratch/attach-bin"
echo 1 >"$ar/sys/bus/pci/drivers_autoprobe"
printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n' >"$ar/etc/pve/storage.cfg"
printf 'hookscript: local:snippets/hook.sh\nmemory: 2048\n' >"$ar/etc/pve/qemu-server/101.conf"
printf '#!/bin/sh\nexit 0\n' >"$ar/var/lib/vz/snippets/hook.sh"
chmod 0755 "$ar/var/lib/vz/snippets/hook.sh"
cp conf/pve-gpu-reset.json "$ar/etc/pve-gpu-reset.json"
cp conf/pve-gpu-reset.json "$scratch/attach-policy.orig"
# Proxmox's qm, as far as attach needs it: logs its arguments, sets or deletes the hookscript line.
cat >"$scratch/attach-bin/qm" <<QM
#!/bin/sh
printf '%s\n' "\$*" >>"$ar/qm.log"
conf="$ar/etc/pve/qemu-server/\$2.conf"
grep -v '^hookscript:' "\$conf" >"\$conf.new"
[ "\$3" = --hookscript ] && echo "hookscript: \$4" >>"\$conf.new"
mv "\$conf.new" "\$conf"
QM
chmod 0755 "$scratch/attach-bin/qm"
apath="$scratch/attach-bin:$PATH"

expect "attach 101: its hookscript is chained, recorded in the VM's state file" 0 \
        "its previous hookscript local:snippets/hook.sh \\(/var/lib/vz/snippets/hook.sh\\) is chained, recorded in /etc/pve-gpu-reset.d/vm-101.json" \
        -- env PATH="$apath" "$bin" --root "$ar" attach 101
if cmp -s "$scratch/attach-policy.orig" "$ar/etc/pve-gpu-reset.json"; then
        ok "attach 101: the policy file is byte for byte as shipped"
else
        not_ok "attach 101: the policy file is byte for byte as shipped" "$(diff "$scratch/attach-policy.orig" "$ar/etc/pve-gpu-reset.json")"
fi
expect "detach 101 gives the recorded hookscript back" 0 "detached local:snippets/pve-gpu-reset; its hookscript is local:snippets/hook.sh again$" \
        -- env PATH="$apath" "$bin" --root "$ar" detach 101
[ ! -e "$ar/etc/pve-gpu-reset.d/vm-101.json" ] && ok "detach 101: the state file is gone" ||
        not_ok "detach 101: the state file is gone" "$(cat "$ar/etc/pve-gpu-reset.d/vm-101.json")"

# The hook chains what the state file names (the path is the host's: write one that is).
printf '#!/bin/sh\necho "$@" >"%s/chained.out"\n' "$scratch" >"$scratch/chained.sh"
chmod 0755 "$scratch/chained.sh"
mkdir -p "$ar/etc/pve-gpu-reset.d"
printf '{"format": 1, "vmid": 101, "hookscript": "%s/chained.sh", "volid": "local:snippets/chained.sh"}\n' "$scratch" \
        >"$ar/etc/pve-gpu-reset.d/vm-101.json"
expect "the hook runs the hookscript the VM's state file names" 0 "" -- "$bin" --root "$ar" 101 post-stop
[ "$(cat "$scratch/chained.out" 2>/dev/null)" = "101 post-stop" ] && ok "the chained script got VMID and phase" ||
        not_ok "the chained script got VMID and phase" "$(cat "$scratch/chained.out" 2>&1)"
chmod 0664 "$ar/etc/pve-gpu-reset.d/vm-101.json"
expect "a group-writable state file fails the hook, naming the fix" 2 "vm-101.json: writable by its group.*chmod 0644" \
        -- "$bin" --root "$ar" 101 post-stop
rm -f "$ar/etc/pve-gpu-reset.d/vm-101.json"

# A chain recorded by 0.1 in the policy file, and --config naming the default location: that is the
# file under --root for detach as for the hook (attach.c once took it as the host's /etc file).
printf '{"vms": {"101": {"hookscript": "/var/lib/vz/snippets/hook.sh"}}}\n' >"$ar/etc/pve-gpu-reset.json"
cp "$ar/etc/pve-gpu-reset.json" "$scratch/attach-policy.orig"
printf 'hookscript: local:snippets/pve-gpu-reset\nmemory: 2048\n' >"$ar/etc/pve/qemu-server/101.conf"
: >"$ar/qm.log"
expect "detach --config /etc/pve-gpu-reset.json under --root restores a 0.1 chain, naming the key left" 0 \
        "its hookscript is local:snippets/hook.sh again \\(from vms.101.hookscript in $ar/etc/pve-gpu-reset.json, which is yours to remove\\)" \
        -- env PATH="$apath" "$bin" --root "$ar" --config /etc/pve-gpu-reset.json detach 101
[ "$(cat "$ar/qm.log")" = "set 101 --hookscript local:snippets/hook.sh" ] && ok "detach 101: qm set restores the 0.1 chain" ||
        not_ok "detach 101: qm set restores the 0.1 chain" "$(cat "$ar/qm.log")"
cmp -s "$scratch/attach-policy.orig" "$ar/etc/pve-gpu-reset.json" && ok "detach 101: the policy file is left as it was" ||
        not_ok "detach 101: the policy file is left as it was" "$(cat "$ar/etc/pve-gpu-reset.json")"
