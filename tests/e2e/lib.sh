# shellcheck shell=bash
# Results are handed back in E2E_* globals (SC2034); QEMU arguments contain commas (SC2054);
# the cache holds plain names (SC2012); e2e_fetch_kernels takes optional package names (SC2119, SC2120).
# shellcheck disable=SC2012,SC2034,SC2054,SC2119,SC2120
# tests/e2e/lib.sh — run real programs inside real Debian kernels in QEMU (TCG, never KVM).
#
# Source it from bash:   . tests/e2e/lib.sh
#
#   e2e_fetch_kernels                  download + unpack the kernels (cached); sets E2E_KERNELS="KVER KVER"
#   e2e_build_initramfs KVER OUT [F..] busybox initramfs for KVER; F = SRC[:DEST] (file or directory)
#   e2e_boot KVER CPIO [QEMU ARGS..]   boot it, print the console, return the scenario's exit status
#   e2e_run_scenario KVER SCRIPT [F..] build + boot a guest scenario (its "# e2e-*:" headers apply)
#   e2e_shell KVER CPIO [QEMU ARGS..]  the same, interactive (console on your terminal, no timeout)
#
# Inside the guest, /init mounts proc/sys/devtmpfs, loads the modules, runs /scenario (give it as
# `script:/scenario`) with plain `sh /scenario`, then prints `E2E-EXIT=<rc>` and powers off.
# Everything the guest prints goes to ttyS0, which e2e_boot copies to stdout (and to $E2E_LOG if set).
#
# Knobs (environment, all optional):
#   E2E_CACHE        cache dir (default tests/e2e/cache, gitignored)
#   E2E_KERNEL_PKGS  metapackages to fetch (default "linux-image-amd64 linux-image-6.12-amd64")
#   E2E_MODULES      modules to load, in addition to their dependencies (see E2E_DEFAULT_MODULES)
#   E2E_EXTRA_MODULES more modules, e.g. "snd-hda-intel" (binds the GPU's HDA function to a host driver)
#   E2E_HOST_TOOLS   host programs copied in with their libraries (default "lspci setpci")
#   E2E_TOPOLOGY     QEMU PCI topology pieces: "gpu" (default) plus optional "switch", "pcibridge", "mfgroup",
#                    "nvmenic", "gpu8"
#   E2E_TRACE        QEMU trace events (-trace PATTERN each), e.g. "pci_nvme_pci_reset resettable_phase_enter_begin";
#                    QEMU writes them to stderr, which e2e_boot merges into the console stream and $E2E_LOG
#   E2E_HOTPLUG      "native" (default: pciehp, /sys/bus/pci/slots/N/power, as in sysfs-reference)
#                    or "acpi" (QEMU's q35 default: ACPI hotplug for the root ports)
#   E2E_TIMEOUT      hard limit for one boot in seconds (default 120)
#   E2E_APPEND       extra kernel command line
#   E2E_MEM          guest RAM (default 512M)
#   E2E_LOG          file that receives a copy of the console output of e2e_boot
#   E2E_QUIET        1 = e2e_boot does not copy the console to stdout (the log still gets it)
#
# After e2e_boot: E2E_RC (scenario status; 124 timeout, 125 no end marker, 126 a module did not
# load), E2E_WHY (why it failed, "" on success), E2E_BOOT_SECS (host wall time from starting QEMU to
# /init running), E2E_GUEST_UPTIME (guest uptime when /init started), E2E_TOTAL_SECS (whole QEMU run).
#
# Guest PCI layout. "gpu" is always first, so buses 01-03 never move; the others are numbered depth-first
# by SeaBIOS, so their bus numbers depend on which pieces come before them (shown for both cases).
#   gpu:  00:01.0 rp1 (slot 1) -> 01:00.0 VGA 1234:1111 (multifunction) + 01:00.1 intel-hda 8086:2668
#         00:02.0 rp2 (slot 2) -> 02:00.0 virtio-net 1af4:1041 (multifunction) + 02:00.1 e1000e 8086:10d3
#         00:03.0 rp3 (slot 3) -> 03:00.0 nvme 1b36:0010 (null-co backing, 1 MiB)
#         "foreign function below the same bridge": give a VM only 02:00.0; 02:00.1 stays foreign.
#   switch (after gpu): a PCIe switch with the GPU-like card and a foreign NIC on sibling downstream ports
#         00:04.0 rp4 (slot 4) -> 04:00.0 x3130 upstream 104c:8232 -> 05:00.0 downstream 104c:8233
#         (slot 10) -> 06:00.0 bochs-display 1234:1111 class 0380 + 06:00.1 intel-hda;
#         05:01.0 downstream (slot 11) -> 07:00.0 e1000e.  reset_subordinate of 05:00.0 resets only the
#         card; of 04:00.0 or 00:04.0 it would also hit the foreign 07:00.0. The downstream ports have
#         no ACS: 05:00.0 shares an IOMMU group with 06:00.x, 05:01.0 with 07:00.0.
#   pcibridge: two conventional PCI slots behind one PCI-PCI bridge (shpc=off: no hotplug, no slots)
#         00:05.0 rp5 (slot 5) -> 08:00.0 pci-bridge 1b36:0001 -> 09:01.0 bochs-display + 09:02.0 e1000
#         8086:100e (all three in one IOMMU group). Without "switch": 04:00.0 -> 05:01.0 + 05:02.0.
#         The only reset for 09:01.0 is a bus reset of 08:00.0, which always hits the foreign 09:02.0.
#   mfgroup: one multifunction card, its functions in one IOMMU group (functions have no ACS)
#         00:06.0 rp6 (slot 6) -> 04:00.0 bochs-display 1234:1111 (multifunction) + 04:00.1 intel-hda
#         + 04:00.2 qemu-xhci 1b36:000d (no driver). Bus 04 after "gpu" alone; find it with
#         /sys/bus/pci/slots/6/address.
#   nvmenic: one card whose two functions QEMU traces separately (the VFIO proof, scenarios/vfio-*.sh)
#         00:07.0 rp7 (slot 7) -> BB:00.0 nvme 1b36:0010 (multifunction, FLR) + BB:00.1 e1000e 8086:10d3
#         (pm). Both in one IOMMU group. Bus 04 after "gpu" alone; find it with /sys/bus/pci/slots/7/address.
#   gpu8: eight GPU-like slots for the scale benchmark (tests/bench): root ports 00:10.0-00:17.0
#         (slots and chassis 16-23), each -> bochs-display 1234:1111 class 0380 (multifunction) +
#         intel-hda. Bus numbers follow the pieces before it (after "gpu" alone: 04-0b); find a slot's
#         bus with /sys/bus/pci/slots/16..23/address.
# Reset methods seen (6.1 and 6.12 alike): VGA "bus" (fails with ENOTTY: not alone on its bus), intel-hda
# none, virtio-net "flr pm bus", e1000e "pm" (fn 1) / "pm bus" (alone), nvme "flr bus", e1000 none.

E2E_DIR=${E2E_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)}
E2E_CACHE=${E2E_CACHE:-$E2E_DIR/cache}
E2E_KERNEL_PKGS=${E2E_KERNEL_PKGS:-"linux-image-amd64 linux-image-6.12-amd64"}
# Host drivers first, vfio last, as on a Proxmox host (vfio-pci is loaded when the first VM starts):
# drivers bind in registration order, which decides who wins a rescan when vfio-pci has a new_id.
# virtio_pci is a module on 6.1 and built in on 6.12: loading it on both makes them look alike.
E2E_DEFAULT_MODULES="e1000e e1000 nvme virtio_pci virtio_net vfio vfio_iommu_type1 vfio-pci"
E2E_MODULES=${E2E_MODULES:-$E2E_DEFAULT_MODULES}
E2E_EXTRA_MODULES=${E2E_EXTRA_MODULES:-}
E2E_HOST_TOOLS=${E2E_HOST_TOOLS-"lspci setpci"}
E2E_TOPOLOGY=${E2E_TOPOLOGY:-gpu}
E2E_TRACE=${E2E_TRACE:-}
E2E_HOTPLUG=${E2E_HOTPLUG:-native}
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
E2E_MEM=${E2E_MEM:-512M}
E2E_APPEND=${E2E_APPEND:-}
E2E_NODE=${E2E_NODE:-pve1}
E2E_KERNELS=${E2E_KERNELS:-}

e2e_log() { printf 'e2e: %s\n' "$*" >&2; }
e2e_die() { printf 'e2e: error: %s\n' "$*" >&2; return 1; }

# Seconds since the epoch with microseconds (bash 5 $EPOCHREALTIME).
e2e_now() { printf '%s\n' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
# e2e_elapsed START -> seconds since START, 2 decimals
e2e_elapsed() { awk -v a="$1" -v b="$(e2e_now)" 'BEGIN { printf "%.2f\n", b - a }'; }

e2e_need() {
        local t missing=""
        for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
        [ -z "$missing" ] && return 0
        e2e_die "missing host tools:$missing (Debian: apt-get install qemu-system-x86 busybox-static cpio)"
}

# ---------------------------------------------------------------------------------------------------
# Kernels

# _e2e_resolve META... -> lines "META NAME VERSION": the real linux-image-* package each candidate
# metapackage depends on (one apt-cache call; the metapackage pins it with "(= VERSION)").
_e2e_resolve() {
        apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
                /^Package: / { pkg = $2 }
                /^Version: / { ver[pkg] = $2 }
                /^Depends: / {
                        n = split(substr($0, 10), deps, ",")
                        for (i = 1; i <= n; i++) {
                                d = deps[i]; sub(/^ +/, "", d)
                                if (d ~ /^linux-image-/) {
                                        split(d, w, " "); dep[pkg] = w[1]
                                        if (match(d, /\(= [^)]+\)/)) dver[pkg] = substr(d, RSTART + 3, RLENGTH - 4)
                                        break
                                }
                        }
                }
                END {
                        for (p in ver) {
                                if (p in dep && dver[p] != "") print p, dep[p], dver[p]
                                else if (!(p in dep)) print p, p, ver[p]
                        }
                }'
}

# e2e_kernel_root KVER -> the unpacked package root holding boot/vmlinuz-KVER and lib/modules/KVER
e2e_kernel_root() {
        local d
        for d in "$E2E_CACHE"/kernels/*/; do
                [ -f "$d.unpacked" ] && [ -d "${d}lib/modules/$1" ] && { printf '%s\n' "${d%/}"; return 0; }
        done
        e2e_die "kernel $1 is not in $E2E_CACHE/kernels (run e2e_fetch_kernels)"
}

# _e2e_fetch_one META ["NAME VERSION"] -> prints KVER; downloads and unpacks when not cached; without
# NAME VERSION (apt knows no candidate) it falls back to the newest cached kernel of that series.
_e2e_fetch_one() {
        local meta=$1 nv=${2:-} name ver dir tmp deb kver
        if [ -z "$nv" ]; then
                # No apt lists or no candidate: use what the cache has for this series.
                case $meta in
                linux-image-6.12-amd64) dir=$(ls -d "$E2E_CACHE"/kernels/linux-image-6.12.*_*/.unpacked 2>/dev/null | tail -n1) ;;
                linux-image-amd64) dir=$(ls -d "$E2E_CACHE"/kernels/linux-image-6.1.*_*/.unpacked 2>/dev/null | tail -n1) ;;
                *) dir=$(ls -d "$E2E_CACHE/kernels/${meta}_"*/.unpacked 2>/dev/null | tail -n1) ;;
                esac
                if [ -z "$dir" ]; then
                        e2e_die "apt-cache has no candidate for $meta and $E2E_CACHE/kernels has none either;" \
                                "see 'apt-cache policy $meta' (linux-image-6.12-amd64 comes from bookworm-security:" \
                                "deb http://deb.debian.org/debian-security bookworm-security main)"
                        return 1
                fi
                dir=${dir%/.unpacked}
                e2e_log "offline: using cached $(basename "$dir") for $meta"
                ls "$dir/lib/modules" | head -n1
                return 0
        fi
        name=${nv% *}; ver=${nv#* }
        dir="$E2E_CACHE/kernels/${name}_${ver}"
        if [ ! -f "$dir/.unpacked" ]; then
                e2e_need apt-get dpkg-deb || return 1
                tmp=$(mktemp -d "$E2E_CACHE/dl.XXXXXX") || return 1
                e2e_log "downloading $name=$ver (for $meta)"
                # -o APT::Sandbox::User=root: the _apt user may not be able to write into the cache dir.
                if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$name=$ver" >&2); then
                        rm -rf "$tmp"
                        e2e_die "apt-get download $name=$ver failed"
                        return 1
                fi
                deb=$(ls "$tmp"/*.deb | head -n1)
                rm -rf "$dir"
                mkdir -p "$dir"
                if ! dpkg-deb -x "$deb" "$dir"; then
                        rm -rf "$tmp" "$dir"
                        e2e_die "dpkg-deb -x $deb failed"
                        return 1
                fi
                printf '%s %s %s\n' "$name" "$ver" "$meta" >"$dir/.package"
                rm -rf "$tmp"
                touch "$dir/.unpacked"
        fi
        kver=$(ls "$dir/lib/modules" | head -n1)
        [ -f "$dir/boot/vmlinuz-$kver" ] || { e2e_die "$dir has no boot/vmlinuz-$kver"; return 1; }
        printf '%s\n' "$kver"
}

# _e2e_private_apt: on a Debian 12 host whose sources lack bookworm-security (a debootstrap'd or minimal
# CI machine: the 6.12 kernel and the newest 6.1 come from there), an apt of our own under
# $E2E_CACHE/apt with main, updates and security, for the kernel and udev downloads only: the host's
# sources are never changed. Exports APT_CONFIG (apt reads it instead of /etc/apt/apt.conf).
_e2e_private_apt() {
        local d=$E2E_CACHE/apt codename
        codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
        [ "$codename" = bookworm ] || return 1
        mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/sources.list.d" || return 1
        cat >"$d/sources.list" <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
        cat >"$d/apt.conf" <<CONF
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "$d/sources.list.d";
Dir::State::lists "$d/lists";
Dir::Cache "$d/cache";
APT::Sandbox::User "root";
CONF
        e2e_log "the host's apt sources lack bookworm-security; using $d/sources.list for the test kernels"
        APT_CONFIG=$d/apt.conf apt-get update -qq >&2 || { e2e_log "apt-get update ($d) failed"; return 1; }
        export APT_CONFIG=$d/apt.conf
}

# e2e_fetch_kernels [META...] -> E2E_KERNELS="KVER..." (in the order of the metapackages)
e2e_fetch_kernels() {
        local meta kver list="" metas=${*:-$E2E_KERNEL_PKGS} resolved m missing="" lockfd rc
        mkdir -p "$E2E_CACHE/kernels" || return 1
        # Several suites may share the cache: one fetcher at a time.
        exec {lockfd}>"$E2E_CACHE/.fetch.lock" || return 1
        flock "$lockfd"
        # shellcheck disable=SC2086
        _e2e_fetch_locked $metas
        rc=$?
        exec {lockfd}>&-
        return $rc
}

_e2e_fetch_locked() {
        local meta kver list="" metas=$* resolved m missing=""
        # shellcheck disable=SC2086
        resolved=$(_e2e_resolve $metas)
        for meta in $metas; do
                printf '%s\n' "$resolved" | grep -q "^$meta " || missing="$missing $meta"
        done
        # One apt-get update (as root) when a package has no candidate, e.g. on a fresh CI container.
        if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
                e2e_log "apt-cache has no candidate for$missing; running apt-get update"
                apt-get update -qq >&2 || e2e_log "apt-get update failed"
                # shellcheck disable=SC2086
                resolved=$(_e2e_resolve $metas)
                missing=""
                for meta in $metas; do
                        printf '%s\n' "$resolved" | grep -q "^$meta " || missing="$missing $meta"
                done
                if [ -n "$missing" ] && _e2e_private_apt; then
                        # shellcheck disable=SC2086
                        resolved=$(_e2e_resolve $metas)
                fi
        fi
        local keep=" " d
        for meta in $metas; do
                m=$(printf '%s\n' "$resolved" | awk -v m="$meta" '$1 == m { print $2, $3; exit }')
                kver=$(_e2e_fetch_one "$meta" "$m") || return 1
                list="$list $kver"
                [ -n "$m" ] && keep="$keep${m% *}_${m#* } " || keep=""
        done
        # Every package resolved online: drop kernels that apt has since superseded.
        if [ -n "$keep" ]; then
                for d in "$E2E_CACHE"/kernels/*/; do
                        d=${d%/}
                        case $keep in *" ${d##*/} "*) ;; *) [ -d "$d" ] && { e2e_log "pruning old ${d##*/}"; rm -rf "$d"; } ;; esac
                done
        fi
        E2E_KERNELS=${list# }
        export E2E_KERNELS
}

# e2e_fetch_udev -> E2E_UDEV_ROOT: Debian 12's udev package (systemd-udevd = udevadm, 80-drivers.rules),
# fetched with apt-get download + dpkg-deb -x like the kernels and cached in $E2E_CACHE/udev/VERSION.
# Its libraries (libsystemd-shared-252 and the rest) come from the host, as for every guest binary.
e2e_fetch_udev() {
        local lockfd ver dir tmp rc=0
        mkdir -p "$E2E_CACHE/udev" || return 1
        exec {lockfd}>"$E2E_CACHE/.fetch.lock" || return 1
        flock "$lockfd"
        ver=$(apt-cache policy udev 2>/dev/null | sed -n 's/^ *Candidate: //p')
        if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
                dir=$(ls -d "$E2E_CACHE"/udev/*/.unpacked 2>/dev/null | tail -n1)
                dir=${dir%/.unpacked}
        else
                dir="$E2E_CACHE/udev/$ver"
        fi
        if [ -z "$dir" ]; then
                e2e_die "apt-cache has no candidate for udev and $E2E_CACHE/udev has none either"; rc=1
        elif [ ! -f "$dir/.unpacked" ]; then
                e2e_need apt-get dpkg-deb || rc=1
                tmp=$(mktemp -d "$E2E_CACHE/dl.XXXXXX") || rc=1
                if [ $rc = 0 ] && (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "udev=$ver" >&2) &&
                        rm -rf "$dir" && mkdir -p "$dir" && dpkg-deb -x "$tmp"/udev_*.deb "$dir"; then
                        touch "$dir/.unpacked"
                else
                        e2e_die "fetching udev=$ver failed"; rc=1
                fi
                rm -rf "$tmp"
        fi
        exec {lockfd}>&-
        [ $rc = 0 ] || return 1
        E2E_UDEV_ROOT=$dir
        export E2E_UDEV_ROOT
}

# e2e_kernel_package KVER -> "NAME VERSION" of the unpacked package
e2e_kernel_package() {
        local root
        root=$(e2e_kernel_root "$1") || return 1
        cut -d' ' -f1,2 "$root/.package" 2>/dev/null || basename "$root"
}

# ---------------------------------------------------------------------------------------------------
# Modules (the package has no modules.dep — depmod runs at install time — so the dependencies are
# read from each module's .modinfo "depends=" field)

_e2e_modname() { local n=${1##*/}; n=${n%%.ko*}; printf '%s\n' "${n//-/_}"; }

_e2e_cat_module() {
        case $1 in
        *.ko.xz) if command -v xz >/dev/null 2>&1; then xz -dc "$1"; else busybox unxz -c "$1"; fi ;;
        *.ko.zst) zstd -qdc "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) cat "$1" ;;
        esac
}

# _e2e_module_order KVER MOD... -> lines "name path" in load order (dependencies first); built-in
# modules are skipped; unknown modules are an error.
_e2e_module_order() {
        local kver=$1 root mdir index builtin
        shift
        root=$(e2e_kernel_root "$kver") || return 1
        mdir="$root/lib/modules/$kver"
        index="$mdir/.e2e-index"
        if [ ! -s "$index" ]; then
                find "$mdir/kernel" -name '*.ko*' | while IFS= read -r p; do
                        printf '%s %s\n' "$(_e2e_modname "$p")" "$p"
                done >"$index.$$" && mv "$index.$$" "$index"
        fi
        builtin=$(sed 's|.*/||; s|\.ko.*||; s|-|_|g' "$mdir/modules.builtin" 2>/dev/null)
        local -A seen=()
        local out=""
        _e2e_visit() {
                local m p deps d
                m=$(_e2e_modname "$1")
                [ -n "${seen[$m]:-}" ] && return 0
                seen[$m]=1
                if printf '%s\n' "$builtin" | grep -qx "$m"; then return 0; fi
                p=$(awk -v m="$m" '$1 == m { print $2; exit }' "$index")
                [ -n "$p" ] || { e2e_die "module $m not found in $kver"; return 1; }
                deps=$(_e2e_cat_module "$p" | tr '\0' '\n' | grep -a -m1 '^depends=' | cut -d= -f2 | tr ',' ' ')
                for d in $deps; do _e2e_visit "$d" || return 1; done
                out="$out$m $p"$'\n'
        }
        local m
        for m in "$@"; do _e2e_visit "$m" || return 1; done
        printf '%s' "$out"
}

# ---------------------------------------------------------------------------------------------------
# Initramfs

# _e2e_copy_elf_libs ROOT FILE: the shared libraries and the loader FILE needs, at their host paths.
_e2e_copy_elf_libs() {
        local root=$1 f=$2 lib
        # "not a dynamic executable" (static or a script): nothing to do.
        ldd "$f" >/dev/null 2>&1 || return 0
        for lib in $(ldd "$f" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }'); do
                [ -e "$root$lib" ] && continue
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib" || return 1
        done
}

# _e2e_install ROOT SRC DEST: copy a file or a directory into the image (+ libraries of ELF files)
_e2e_install() {
        local root=$1 src=$2 dest=$3 f
        [ -e "$src" ] || { e2e_die "no such file: $src"; return 1; }
        mkdir -p "$root$(dirname "$dest")"
        if [ -d "$src" ]; then
                mkdir -p "$root$dest"
                cp -a "$src/." "$root$dest/" || return 1
                while IFS= read -r f; do _e2e_copy_elf_libs "$root" "$f" || return 1; done < <(find "$src" -type f -perm -u+x)
        else
                cp -L "$src" "$root$dest" || return 1
                # a shared library (mode 0644: not -x) has libraries too
                if [ -x "$src" ] || [[ ${src##*/} == *.so.* ]]; then
                        _e2e_copy_elf_libs "$root" "$src" || return 1
                fi
        fi
        return 0
}

_e2e_write_init() {
        local root=$1 kver=$2
        cat >"$root/init" <<EOF
#!/bin/sh
# generated by tests/e2e/lib.sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LC_ALL=C
export E2E_KVER='$kver' E2E_NODE='$E2E_NODE'
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The image carries no /dev/console node (it would need mknod as root): attach to the console now.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /run/lock /run/qemu-server /var/log
mount -t devpts devpts /dev/pts 2>/dev/null
hostname '$E2E_NODE'
ip link set lo up 2>/dev/null
echo "E2E-BOOTED kernel=\$(uname -r) uptime=\$(cut -d' ' -f1 /proc/uptime)"
modfail=""
while read -r m; do
        [ -n "\$m" ] || continue
        insmod "/lib/modules/$kver/\$m.ko" || modfail="\$modfail \$m"
done </etc/e2e/modules
echo "E2E-MODULES-LOADED uptime=\$(cut -d' ' -f1 /proc/uptime)"
if [ -n "\$modfail" ]; then
        echo "E2E-ERROR insmod failed:\$modfail"
        rc=126
elif [ -f /scenario ]; then
        n0=\$(dmesg | wc -l)
        sh /scenario
        rc=\$?
        if [ "\$rc" != 0 ]; then
                echo "E2E-DMESG-BEGIN (kernel messages since the scenario started)"
                dmesg | tail -n +\$((n0 + 1)) | tail -n 60
                echo "E2E-DMESG-END"
        fi
else
        echo "E2E: no /scenario; starting a shell (exit to power off)"
        setsid cttyhack sh
        rc=\$?
fi
echo "E2E-EXIT=\$rc"
sync
poweroff -f
EOF
        chmod 0755 "$root/init"
}

# e2e_build_initramfs KVER OUT_CPIO [SRC[:DEST]...]
#   SRC without DEST goes to /usr/sbin/<basename>. A directory is copied recursively. Executables get
#   their shared libraries and the dynamic loader (via ldd) at their host paths. The guest has a fake
#   /etc/pve for node $E2E_NODE (/etc/pve/qemu-server -> nodes/$E2E_NODE/qemu-server, mapping/), so
#   `vm.conf:/etc/pve/qemu-server/100.conf` works. The scenario is whatever lands at /scenario.
e2e_build_initramfs() {
        local kver=$1 out=$2 stage spec src dest t m p root
        shift 2 || { e2e_die "usage: e2e_build_initramfs KVER OUT_CPIO [SRC[:DEST]...]"; return 1; }
        e2e_need busybox cpio ldd || return 1
        root=$(e2e_kernel_root "$kver") || return 1
        stage=$(mktemp -d "${TMPDIR:-/tmp}/e2e-initramfs.XXXXXX") || return 1
        (
                set -e
                cd "$stage"
                mkdir -p usr/bin usr/sbin usr/lib usr/lib64 proc sys dev run tmp root var etc/e2e \
                        "etc/pve/nodes/$E2E_NODE/qemu-server" "etc/pve/nodes/$E2E_NODE/lxc" etc/pve/mapping
                # merged /usr like the host, so paths from ldd and scripts resolve the same way
                for d in bin sbin lib lib64; do [ -e "$d" ] || ln -s "usr/$d" "$d"; done
                mkdir -p "usr/lib/modules/$kver"
                ln -s "nodes/$E2E_NODE/qemu-server" etc/pve/qemu-server
                ln -s "nodes/$E2E_NODE" etc/pve/local
                printf '%s\n' "$E2E_NODE" >etc/hostname
                printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$E2E_NODE" >etc/hosts
                printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
                printf 'root:x:0:\n' >etc/group
                cp "$(command -v busybox)" usr/bin/busybox
                _e2e_copy_elf_libs "$stage" "$(command -v busybox)" # nothing for busybox-static
                for a in $(usr/bin/busybox --list); do
                        [ -e "usr/bin/$a" ] || ln -s busybox "usr/bin/$a"
                done
        ) || { rm -rf "$stage"; e2e_die "staging failed"; return 1; }

        # modules (decompressed: busybox insmod and the 6.1 kernel do not take .ko.xz)
        local order
        # shellcheck disable=SC2086
        order=$(_e2e_module_order "$kver" $E2E_MODULES $E2E_EXTRA_MODULES) || { rm -rf "$stage"; return 1; }
        : >"$stage/etc/e2e/modules"
        while read -r m p; do
                [ -n "$m" ] || continue
                _e2e_cat_module "$p" >"$stage/usr/lib/modules/$kver/$m.ko" || { rm -rf "$stage"; return 1; }
                printf '%s\n' "$m" >>"$stage/etc/e2e/modules"
        done <<<"$order"

        # A guest with udev loads modules by modalias (libkmod): it needs the index depmod makes.
        if [ "${E2E_DEPMOD:-0}" = 1 ]; then
                for f in modules.builtin modules.builtin.modinfo modules.order; do
                        [ -f "$root/lib/modules/$kver/$f" ] && cp "$root/lib/modules/$kver/$f" "$stage/usr/lib/modules/$kver/"
                done
                depmod -b "$stage" "$kver" 2>/dev/null || { rm -rf "$stage"; e2e_die "depmod for $kver failed"; return 1; }
        fi

        # host tools (lspci/setpci: libpci + pci.ids, the same library the hook uses)
        for t in $E2E_HOST_TOOLS; do
                p=$(command -v "$t" 2>/dev/null) || { e2e_log "host tool $t not found, skipped"; continue; }
                _e2e_install "$stage" "$p" "/usr/bin/$t" || { rm -rf "$stage"; return 1; }
        done
        [ -f /usr/share/misc/pci.ids ] && _e2e_install "$stage" /usr/share/misc/pci.ids /usr/share/misc/pci.ids

        for spec in "$@"; do
                case $spec in
                *:/*) src=${spec%:/*}; dest=/${spec##*:/} ;;
                *) src=$spec; dest=/usr/sbin/${spec##*/} ;;
                esac
                _e2e_install "$stage" "$src" "$dest" || { rm -rf "$stage"; e2e_die "cannot install $spec"; return 1; }
        done
        _e2e_write_init "$stage" "$kver"

        mkdir -p "$(dirname "$out")"
        (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp" &&
                mv "$out.tmp" "$out"
        local rc=$?
        rm -rf "$stage"
        [ $rc = 0 ] || { rm -f "$out.tmp"; e2e_die "cpio failed"; return 1; }
}

# ---------------------------------------------------------------------------------------------------
# QEMU

# e2e_qemu_args -> E2E_QEMU_ARGS (array) for the topology in E2E_TOPOLOGY and hotplug in E2E_HOTPLUG
e2e_qemu_args() {
        local piece
        E2E_QEMU_ARGS=(
                -machine q35,kernel-irqchip=split -accel tcg -cpu qemu64 -m "$E2E_MEM" -smp 1
                -nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot
                -device intel-iommu,intremap=on,caching-mode=on
        )
        case $E2E_HOTPLUG in
        native) E2E_QEMU_ARGS+=(-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off) ;;
        acpi) ;;
        *) e2e_die "E2E_HOTPLUG must be native or acpi, not '$E2E_HOTPLUG'"; return 1 ;;
        esac
        # QEMU's own record of device resets: the guest cannot hide a reset it did not mean to do.
        for piece in $E2E_TRACE; do E2E_QEMU_ARGS+=(-trace "$piece"); done
        for piece in $E2E_TOPOLOGY; do
                case $piece in
                gpu)
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x1,slot=1,chassis=1
                                -device VGA,bus=rp1,addr=0.0,multifunction=on
                                -device intel-hda,bus=rp1,addr=0.1
                                -device pcie-root-port,id=rp2,bus=pcie.0,addr=0x2,slot=2,chassis=2
                                -netdev user,id=n1,restrict=on -netdev user,id=n2,restrict=on
                                -device virtio-net-pci,netdev=n1,bus=rp2,addr=0.0,multifunction=on
                                -device e1000e,netdev=n2,bus=rp2,addr=0.1
                                -device pcie-root-port,id=rp3,bus=pcie.0,addr=0x3,slot=3,chassis=3
                                -blockdev driver=null-co,node-name=nvm,size=1048576
                                -device nvme,serial=e2e-nvme,drive=nvm,bus=rp3,addr=0.0
                        ) ;;
                switch)
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp4,bus=pcie.0,addr=0x4,slot=4,chassis=4
                                -device x3130-upstream,id=up1,bus=rp4
                                -device xio3130-downstream,id=ds1,bus=up1,chassis=10,slot=10,addr=0.0
                                -device xio3130-downstream,id=ds2,bus=up1,chassis=11,slot=11,addr=1.0
                                -device bochs-display,bus=ds1,addr=0.0,multifunction=on
                                -device intel-hda,bus=ds1,addr=0.1
                                -netdev user,id=n3,restrict=on
                                -device e1000e,netdev=n3,bus=ds2,addr=0.0
                        ) ;;
                pcibridge)
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp5,bus=pcie.0,addr=0x5,slot=5,chassis=5
                                -device pci-bridge,id=pb1,bus=rp5,addr=0.0,chassis_nr=5,shpc=off
                                -device bochs-display,bus=pb1,addr=1.0
                                -netdev user,id=n4,restrict=on
                                -device e1000,netdev=n4,bus=pb1,addr=2.0
                        ) ;;
                mfgroup)
                        # One multifunction card whose three functions share an IOMMU group (no ACS between
                        # functions): a GPU-like .0, its audio .1 and a USB controller .2, like NVIDIA cards
                        # with an xHCI function. No driver binds .2 (xhci-pci is not loaded).
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp6,bus=pcie.0,addr=0x6,slot=6,chassis=6
                                -device bochs-display,bus=rp6,addr=0.0,multifunction=on
                                -device intel-hda,bus=rp6,addr=0.1
                                -device qemu-xhci,bus=rp6,addr=0.2
                        ) ;;
                nvmenic)
                        # One card, two functions that QEMU traces separately: nvme (FLR; traces
                        # pci_nvme_pci_reset) and e1000e (pm only, which QEMU 7.2 does not emulate as a
                        # reset; traces e1000e_cb_qdev_reset). An FLR of .0 resets only the nvme, a
                        # secondary bus reset of rp7 resets both. No ACS between the functions: one group.
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp7,bus=pcie.0,addr=0x7,slot=7,chassis=7
                                -blockdev driver=null-co,node-name=nvm7,size=1048576
                                -device nvme,serial=e2e-nvme7,drive=nvm7,bus=rp7,addr=0.0,multifunction=on
                                -netdev user,id=n7,restrict=on
                                -device e1000e,netdev=n7,bus=rp7,addr=0.1
                        ) ;;
                gpu8)
                        local g
                        for g in 0 1 2 3 4 5 6 7; do
                                E2E_QEMU_ARGS+=(
                                        -device pcie-root-port,id=rp1$g,bus=pcie.0,addr=0x1$g,slot=$((16 + g)),chassis=$((16 + g))
                                        -device bochs-display,bus=rp1$g,addr=0.0,multifunction=on
                                        -device intel-hda,bus=rp1$g,addr=0.1
                                )
                        done ;;
                sriov)
                        # Root port 00:07.0 like nvmenic: a scenario takes one of the two.
                        # An SR-IOV NVMe (QEMU 7.2 hw/nvme: SR-IOV needs an nvme-subsys and flexible queue
                        # and interrupt resources: sriov_vq_flexible >= 2 * sriov_max_vfs,
                        # max_ioqpairs - sriov_vq_flexible >= 2, sriov_vi_flexible >= sriov_max_vfs).
                        # Its VFs (VF offset 1, stride 1) appear as functions .1-.3 of the PF's own slot
                        # once the guest writes sriov_numvfs; no namespace, so the host nvme driver binds
                        # the PF with nothing to read.
                        E2E_QEMU_ARGS+=(
                                -device pcie-root-port,id=rp7,bus=pcie.0,addr=0x7,slot=7,chassis=7
                                -device nvme-subsys,id=e2e-subsys
                                -device nvme,serial=e2e-sriov,subsys=e2e-subsys,bus=rp7,addr=0.0,sriov_max_vfs=3,sriov_vq_flexible=6,sriov_vi_flexible=3,max_ioqpairs=8
                        ) ;;
                *) e2e_die "unknown E2E_TOPOLOGY piece '$piece' (gpu, switch, pcibridge, mfgroup, nvmenic, gpu8, sriov)"; return 1 ;;
                esac
        done
}

_e2e_kernel_args() {
        local kver=$1 cpio=$2 root
        root=$(e2e_kernel_root "$kver") || return 1
        [ -f "$cpio" ] || { e2e_die "no initramfs $cpio"; return 1; }
        e2e_qemu_args || return 1
        # no_timer_check: under TCG on a loaded machine the IO-APIC timer check can miss its ticks,
        # and with interrupt remapping the kernel then panics ("timer doesn't work through
        # Interrupt-remapped IO-APIC"), seen on 6.12 with two other jobs on the 2 cores.
        E2E_QEMU_ARGS+=(
                -kernel "$root/boot/vmlinuz-$kver" -initrd "$cpio"
                -append "console=ttyS0 intel_iommu=on no_timer_check panic=-1 quiet loglevel=4 $E2E_APPEND"
        )
}

# e2e_boot KVER CPIO [EXTRA QEMU ARGS...] -> returns the scenario's exit status (124: timeout,
# 125: QEMU ended without the E2E-EXIT marker). Console on stdout (unless E2E_QUIET=1) and in $E2E_LOG.
e2e_boot() {
        local kver=$1 cpio=$2 start line host_rc="" t
        shift 2 || { e2e_die "usage: e2e_boot KVER CPIO [QEMU ARGS...]"; return 2; }
        e2e_need qemu-system-x86_64 timeout || return 125
        _e2e_kernel_args "$kver" "$cpio" || return 125
        E2E_QEMU_ARGS+=("$@")
        E2E_RC=125 E2E_BOOT_SECS="" E2E_GUEST_UPTIME="" E2E_TOTAL_SECS="" E2E_WHY=""
        [ -n "${E2E_LOG:-}" ] && : >"$E2E_LOG"
        start=$(e2e_now)
        while IFS= read -r line || [ -n "$line" ]; do
                line=${line%$'\r'}
                case $line in
                E2E-HOST-RC=*) host_rc=${line#E2E-HOST-RC=}; continue ;;
                E2E-BOOTED*)
                        E2E_BOOT_SECS=$(e2e_elapsed "$start")
                        t=${line##*uptime=}; E2E_GUEST_UPTIME=$t ;;
                E2E-EXIT=*) t=${line#E2E-EXIT=}; [[ $t =~ ^[0-9]+$ ]] && E2E_RC=$t ;;
                esac
                [ "${E2E_QUIET:-0}" = 1 ] || printf '%s\n' "$line"
                [ -n "${E2E_LOG:-}" ] && printf '%s\n' "$line" >>"$E2E_LOG"
        done < <(
                timeout -k 5 "$E2E_TIMEOUT" qemu-system-x86_64 "${E2E_QEMU_ARGS[@]}" </dev/null 2>&1
                echo "E2E-HOST-RC=$?"
        )
        E2E_TOTAL_SECS=$(e2e_elapsed "$start")
        if [ "$host_rc" = 124 ] || [ "$host_rc" = 137 ]; then
                E2E_RC=124 E2E_WHY="timed out after ${E2E_TIMEOUT}s"
        elif [ "$E2E_RC" = 125 ]; then
                E2E_WHY="QEMU exited ($host_rc) without an E2E-EXIT marker"
        elif [ "$E2E_RC" = 126 ]; then
                E2E_WHY="a kernel module did not load in the guest"
        elif [ "$E2E_RC" != 0 ]; then
                E2E_WHY="scenario exit status $E2E_RC"
        fi
        [ -n "$E2E_WHY" ] && e2e_log "$kver: $E2E_WHY"
        return "$E2E_RC"
}

# e2e_shell KVER CPIO [EXTRA QEMU ARGS...]: interactive boot for debugging (build the image without a
# /scenario to get a shell). Ctrl-A X quits QEMU.
e2e_shell() {
        local kver=$1 cpio=$2
        shift 2 || return 2
        _e2e_kernel_args "$kver" "$cpio" || return 1
        local i
        for i in "${!E2E_QEMU_ARGS[@]}"; do
                [ "${E2E_QEMU_ARGS[i]}" = stdio ] && E2E_QEMU_ARGS[i]=mon:stdio
                [ "${E2E_QEMU_ARGS[i]}" = -monitor ] && { E2E_QEMU_ARGS[i]=-name; E2E_QEMU_ARGS[i + 1]=e2e; }
        done
        qemu-system-x86_64 "${E2E_QEMU_ARGS[@]}" "$@"
}

# ---------------------------------------------------------------------------------------------------
# Scenarios

# e2e_scenario_header FILE KEY -> the value of a "# e2e-KEY: VALUE" line in the first 60 lines of FILE
e2e_scenario_header() {
        head -n 60 "$1" | sed -n "s/^# e2e-$2:[[:space:]]*//p" | head -n1
}

# _e2e_trace_checks SCENARIO LOG -> prints one "trace: ok/not ok" line per "# e2e-trace-none: ERE" and
# "# e2e-trace-some: ERE" header of SCENARIO, matched against the lines of LOG between the guest's
# E2E-MODULES-LOADED and E2E-EXIT= markers: the scenario's own time, without the machine reset at
# power-on, the drivers' probes or the shutdown that follows (drivers write config space then); from
# the guest's E2E-TRACE-START instead when the scenario prints one. QEMU writes a trace line from the
# vCPU thread that also writes the serial console, so the order in LOG is the order of events.
# "# e2e-trace-none@STEP: ERE" (and -some@STEP) looks only at the lines after the guest's "E2E-STEP STEP"
# marker up to the next E2E-STEP marker (or E2E-EXIT=); the guest prints markers with `vfio-reset
# mark=STEP`, which waits until the marker has left the UART, so no trace line of the step can come
# before it. A STEP the guest never marked fails the check. Returns the number of failed checks.
_e2e_trace_checks() {
        local scen=$1 log=$2 line kind re hits n failed=0 after step window
        after=$(tr -d '\r' <"$log" | sed -n '/^E2E-MODULES-LOADED/,/^E2E-EXIT=/p')
        # A scenario whose setup itself writes config space (enabling SR-IOV VFs) prints
        # E2E-TRACE-START when its setup is done: the checks then start there.
        if printf '%s\n' "$after" | grep -q '^E2E-TRACE-START'; then
                after=$(printf '%s\n' "$after" | sed -n '/^E2E-TRACE-START/,$p')
        fi
        while IFS= read -r line; do
                kind=${line%%:*} re=${line#*:}
                re=${re#"${re%%[![:space:]]*}"}
                step="" window=$after
                case $kind in
                *@*)
                        step=${kind#*@} kind=${kind%%@*}
                        if ! printf '%s\n' "$after" | grep -qxF "E2E-STEP $step"; then
                                failed=$((failed + 1))
                                echo "trace: not ok - $kind@$step: $re (the guest never marked step $step)"
                                continue
                        fi
                        window=$(printf '%s\n' "$after" | awk -v m="E2E-STEP $step" '
                                $0 == m { on = 1; next }
                                /^E2E-STEP / || /^E2E-EXIT=/ { on = 0 }
                                on')
                        ;;
                esac
                hits=$(printf '%s\n' "$window" | grep -E -- "$re")
                n=$(printf '%s' "$hits" | grep -c '')
                if { [ "$kind" = none ] && [ "$n" = 0 ]; } || { [ "$kind" = some ] && [ "$n" != 0 ]; }; then
                        echo "trace: ok - $kind${step:+@$step}: $re ($n lines)"
                else
                        failed=$((failed + 1))
                        echo "trace: not ok - $kind${step:+@$step}: $re ($n lines)"
                        printf '%s\n' "$hits" | head -n 5 | sed 's/^/trace:   /'
                fi
        done < <(head -n 60 "$scen" | sed -n 's/^# e2e-trace-\(none\|some\)\(@[A-Za-z0-9_.-]*\)\?:/\1\2:/p')
        return $failed
}

# e2e_guest_vfio_reset -> path of tests/e2e/guest/vfio-reset.c built static (gcc -static: the guest has
# no glibc), into $E2E_BUILDDIR/e2e-guest (else $E2E_CACHE/e2e-guest); rebuilt when the source is newer.
e2e_guest_vfio_reset() {
        local src="$E2E_DIR/guest/vfio-reset.c" dir out
        dir="${E2E_BUILDDIR:-$E2E_CACHE}/e2e-guest"
        out="$dir/vfio-reset"
        if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
                e2e_need gcc || return 1
                mkdir -p "$dir" || return 1
                if ! gcc -static -O2 -Wall -Wextra -Werror -o "$out.$$" "$src" >&2 || ! mv "$out.$$" "$out"; then
                        rm -f "$out.$$"
                        e2e_die "building $src failed (gcc -static needs libc6-dev)"
                        return 1
                fi
        fi
        printf '%s\n' "$out"
}

# e2e_run_scenario KVER SCENARIO [SRC[:DEST]...]
#   Builds an initramfs for KVER holding the guest helpers (/e2e/lib.sh), /usr/sbin/vfio-reset (QEMU's
#   VFIO calls, see guest/vfio-reset.c), the hook binary
#   ($E2E_BUILDDIR/pve-gpu-reset -> /usr/sbin/pve-gpu-reset, when E2E_BUILDDIR is set and it exists),
#   the extra files, and SCENARIO as /scenario; boots it; returns the scenario's status, 77 when the
#   scenario's "# e2e-kernels:" globs exclude KVER. Header lines in the scenario override the knobs:
#     # e2e-topology: gpu switch     # e2e-hotplug: acpi        # e2e-modules: snd-hda-intel
#     # e2e-append: pci=noaer        # e2e-timeout: 180         # e2e-kernels: 6.12.*
#     # e2e-files: path/rel/to/tests/e2e:/dest ...
#     # e2e-udev: yes                       Debian's udevd (e2e_fetch_udev), 80-drivers.rules, our rule
#     # e2e-trace: pci_nvme_pci_reset ...   QEMU trace events, checked on the host after the boot by
#     # e2e-trace-none: ERE                 (no trace line after the scenario started may match) and
#     # e2e-trace-some: ERE                 (at least one must); several of each may be given
#   The console goes to $E2E_LOGDIR/NAME-KVER.log (default tests/e2e/cache/logs) = $E2E_LAST_LOG;
#   E2E_TIMES holds the guest's "E2E-TIME phase secs" lines; E2E_WHY says why it failed.
e2e_run_scenario() {
        local kver=$1 scen=$2 name v f cpio rc files=() kglob ok
        shift 2 || { e2e_die "usage: e2e_run_scenario KVER SCENARIO [FILES...]"; return 2; }
        E2E_LAST_LOG="" E2E_TIMES="" E2E_WHY=""
        [ -f "$scen" ] || { e2e_die "no scenario $scen"; return 2; }
        name=$(basename "$scen" .sh)
        v=$(e2e_scenario_header "$scen" kernels)
        if [ -n "$v" ]; then
                ok=""
                for kglob in $v; do
                        # shellcheck disable=SC2254
                        case $kver in $kglob) ok=1 ;; esac
                done
                [ -n "$ok" ] || return 77
        fi
        local E2E_TOPOLOGY=$E2E_TOPOLOGY E2E_HOTPLUG=$E2E_HOTPLUG E2E_EXTRA_MODULES=$E2E_EXTRA_MODULES \
                E2E_APPEND=$E2E_APPEND E2E_TIMEOUT=$E2E_TIMEOUT E2E_TRACE=$E2E_TRACE E2E_LOG
        v=$(e2e_scenario_header "$scen" topology) && [ -n "$v" ] && E2E_TOPOLOGY=$v
        v=$(e2e_scenario_header "$scen" hotplug) && [ -n "$v" ] && E2E_HOTPLUG=$v
        v=$(e2e_scenario_header "$scen" modules) && [ -n "$v" ] && E2E_EXTRA_MODULES="$E2E_EXTRA_MODULES $v"
        v=$(e2e_scenario_header "$scen" append) && [ -n "$v" ] && E2E_APPEND="$E2E_APPEND $v"
        v=$(e2e_scenario_header "$scen" timeout) && [ -n "$v" ] && E2E_TIMEOUT=$v
        v=$(e2e_scenario_header "$scen" trace) && [ -n "$v" ] && E2E_TRACE="$E2E_TRACE $v"
        v=$(e2e_scenario_header "$scen" files)
        for f in $v; do
                case $f in /*) files+=("$f") ;; *) files+=("$E2E_DIR/$f") ;; esac
        done
        # "# e2e-udev: yes": Debian's systemd-udevd with 80-drivers.rules and our rule, and a module index.
        local E2E_DEPMOD=${E2E_DEPMOD:-0}
        v=$(e2e_scenario_header "$scen" udev)
        if [ "$v" = yes ]; then
                e2e_fetch_udev || { E2E_WHY="fetching udev failed"; return 125; }
                files+=("$E2E_UDEV_ROOT/bin/udevadm:/usr/bin/udevadm"
                        "$E2E_UDEV_ROOT/lib/udev/rules.d/80-drivers.rules:/usr/lib/udev/rules.d/80-drivers.rules"
                        "$E2E_DIR/../../conf/udev/70-pve-gpu-reset.rules:/usr/lib/udev/rules.d/70-pve-gpu-reset.rules")
                E2E_DEPMOD=1
        fi
        if [ -n "${E2E_BUILDDIR:-}" ] && [ -x "$E2E_BUILDDIR/pve-gpu-reset" ]; then
                files+=("$E2E_BUILDDIR/pve-gpu-reset:/usr/sbin/pve-gpu-reset")
                # doctor dlopens libkmod.so.2 (lib/kernel/kmodinfo.c): ldd of the binary does not list it
                v=$(ldconfig -p 2>/dev/null | awk '$1 == "libkmod.so.2" && /x86-64/ { print $NF; exit }')
                [ -n "$v" ] && files+=("$v:$v")
        fi
        v=$(e2e_guest_vfio_reset) || { E2E_WHY="building the guest's vfio-reset failed"; return 125; }
        files+=("$v:/usr/sbin/vfio-reset")
        mkdir -p "${E2E_LOGDIR:=$E2E_CACHE/logs}"
        E2E_LOG="$E2E_LOGDIR/$name-$kver.log"
        cpio=$(mktemp "${TMPDIR:-/tmp}/e2e-$name.XXXXXX") || return 125
        if ! e2e_build_initramfs "$kver" "$cpio" "$E2E_DIR/guest/lib.sh:/e2e/lib.sh" "${files[@]}" "$@" \
                "$scen:/scenario"; then
                rm -f "$cpio"
                E2E_WHY="building the initramfs failed (see the error above)"
                return 125
        fi
        e2e_boot "$kver" "$cpio"
        rc=$?
        rm -f "$cpio"
        if [ -n "${E2E_TRACE// /}" ] && [ "$rc" != 124 ] && [ "$rc" != 125 ] && [ "$rc" != 126 ]; then
                local tout why
                tout=$(_e2e_trace_checks "$scen" "$E2E_LOG")
                [ "${E2E_QUIET:-0}" = 1 ] || printf '%s\n' "$tout"
                printf '%s\n' "$tout" >>"$E2E_LOG"
                if printf '%s\n' "$tout" | grep -q '^trace: not ok'; then
                        why=$(printf '%s\n' "$tout" | sed -n 's/^trace: not ok - /QEMU trace check failed: /p' | head -n1)
                        if [ "$rc" = 0 ]; then rc=1 E2E_WHY=$why; else E2E_WHY="$E2E_WHY; $why"; fi
                        e2e_log "$kver: $why"
                fi
        fi
        E2E_TIMES=$(tr -d '\r' <"$E2E_LOG" | sed -n 's/^E2E-TIME //p')
        E2E_LAST_LOG=$E2E_LOG
        return $rc
}
