# shellcheck shell=bash
# A hook that runs as a copy of the binary (what `attach` puts on a shared storage) whose version is
# older than the installed /usr/sbin/pve-gpu-reset says so loudly in the journal, and keeps working:
# fixes in an upgrade do not reach that copy until `attach --refresh`. Sourced by tests/cli/run.sh.

sc=$(mkroot stale-copy "cores: 2" "memory: 2048")
mkdir -p "$sc/usr/sbin"
installed() { # installed VERSION: an installed binary of that version, as far as its marker says
        printf '\177ELF\002\001\001 a build\000PVE-GPU-RESET-BINARY-MARKER version=%s\n\000rest' "$1" \
                >"$sc/usr/sbin/pve-gpu-reset"
        chmod 0755 "$sc/usr/sbin/pve-gpu-reset"
}
no_warning() { # no_warning NAME: the hook exits 0 and says nothing about an older copy
        local out rc
        out=$("$bin" --root "$sc" 100 pre-start 2>&1)
        rc=$?
        if [ "$rc" -eq 0 ] && ! printf '%s\n' "$out" | grep -q "older than"; then ok "$1"; else not_ok "$1" "exit $rc" "$out"; fi
}
installed 99.0.0
expect "a copy older than the installed binary warns, names both versions and the fix, and exits 0" 0 \
        "is a copy of pve-gpu-reset [0-9][^ ]* older than the installed $sc/usr/sbin/pve-gpu-reset 99\\.0\\.0.*pve-gpu-reset attach --refresh" \
        -- "$bin" --root "$sc" 100 pre-start
installed 0.0.1
no_warning "a copy newer than the installed binary: no warning"
ln -sf "$bin" "$sc/usr/sbin/pve-gpu-reset"
no_warning "the hook is the installed binary itself: no warning"
rm -f "$sc/usr/sbin/pve-gpu-reset"
no_warning "no installed binary: no warning"
