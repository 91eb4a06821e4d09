#!/bin/bash
# libFuzzer targets for every parser of outside input (tests/fuzz/fuzz_*.c).
#
#   tests/fuzz/run.sh [SECONDS]   build, then fuzz each target for SECONDS (default $FUZZ_SECONDS or 60),
#                                 one after another; summary table; exit 1 if any target crashed
#   tests/fuzz/run.sh --smoke     each target: its seeds once plus $FUZZ_SMOKE_SECONDS (1) of fuzzing,
#                                 $FUZZ_JOBS (default: number of CPUs) targets at a time; for `make check`
#   tests/fuzz/run.sh --build     build only
#
# Run from anywhere; paths are relative to the repository. Environment:
#   FUZZ_TARGETS="vmconf policy"  only these targets          FUZZ_BUILDDIR  scratch dir (build/fuzz)
#   CLANG                         compiler (clang, else clang-14)
#   FUZZ_JOBS                     parallel targets (default 1; --smoke: number of CPUs); the build
#                                 always uses every CPU
#
# Layout under FUZZ_BUILDDIR: obj/ (lib/*/*.c built with clang and the sanitizers), bin/fuzz_<t>,
# seeds/<t>/ (generated from the real fixtures and conf/), corpus/<t>/ (what libFuzzer keeps, grows
# across runs), crashes/<t>/ (crash-*, timeout-*, oom-* inputs), logs/<t>.log.
# Committed: seeds/<t>/ (small hand-written seeds), dict/<t>.dict, crashes/<t>/ (inputs that crashed
# once: every run replays them first, and they seed the corpus).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top" || exit 1

mode=fuzz
seconds=${FUZZ_SECONDS:-60}
case "${1:-}" in
--smoke) mode=smoke; seconds=${FUZZ_SMOKE_SECONDS:-1} ;;
--build) mode=build ;;
--help|-h) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
'') ;;
*[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS | --smoke | --build]" >&2; exit 2 ;;
*) seconds=$1 ;;
esac
case "$seconds" in ''|*[!0-9]*|0) echo "fuzz: bad number of seconds '$seconds'" >&2; exit 2 ;; esac

B=${FUZZ_BUILDDIR:-build/fuzz}
real=tests/fixtures/real
all_targets=$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
targets=${FUZZ_TARGETS:-$all_targets}
if [ "$mode" = smoke ]; then
        jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
else
        jobs=${FUZZ_JOBS:-1}
fi
build_jobs=$(nproc 2>/dev/null || echo 1)

# pool_start CMD...: runs CMD in the background, at most $pool_max at a time (set it first);
# pool_wait: waits for the rest.
pool_running=0
pool_start() {
        if [ "$pool_running" -ge "$pool_max" ]; then
                wait -n
                pool_running=$((pool_running - 1))
        fi
        "$@" &
        pool_running=$((pool_running + 1))
}
pool_wait() {
        wait
        pool_running=0
}

# ---- toolchain ----
cc=${CLANG:-}
if [ -z "$cc" ]; then
        for c in clang clang-14; do
                if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
        done
fi
if [ -z "$cc" ]; then
        echo "fuzz: clang not found; install it with tools/deps.sh (clang, libclang-rt-14-dev)" >&2
        echo "fuzz: 0 passed, 1 failed"
        exit 1
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The version the Makefile gives the build (lib/ uses it for the shared-storage copy check).
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
CFLAGS="-std=gnu11 -g -O1 $SAN -Wall -Wextra -Wno-unused-parameter -DPGR_VERSION=\"$version\" -Ilib $(pkg-config --cflags libpci json-c libsystemd libkmod)"
LIBS=$(pkg-config --libs libpci json-c libsystemd libkmod)
mkdir -p "$B/obj" "$B/bin" "$B/seeds" "$B/corpus" "$B/crashes" "$B/logs"

probe="$B/obj/probe"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe" "$probe.c" >"$probe.log" 2>&1; then
        cat "$probe.log" >&2
        echo "fuzz: $cc cannot link -fsanitize=fuzzer; install libclang-rt-14-dev (tools/deps.sh)" >&2
        echo "fuzz: 0 passed, 1 failed"
        exit 1
fi

# ---- build: lib/*/*.c with the sanitizers (libFuzzer coverage too), one archive, one binary per target ----
newest_header=$(ls -t lib/*/*.h "$here/fuzz.h" | head -1)
built_lib=0 lib_failed="" lib_to_build=""
compile_lib() { # compile_lib SRC OBJ: OBJ, or no OBJ and the compiler's messages in OBJ.log
        # shellcheck disable=SC2086
        "$cc" $CFLAGS -fsanitize=fuzzer-no-link -c -o "$2" "$1" 2>"$2.log" || rm -f "$2"
}
pool_max=$build_jobs
for src in lib/*/*.c; do
        obj="$B/obj/$(basename "$src" .c).o"
        if [ -f "$obj" ] && [ ! "$src" -nt "$obj" ] && [ ! "$newest_header" -nt "$obj" ]; then
                continue
        fi
        rm -f "$obj"
        lib_to_build="$lib_to_build $src"
        pool_start compile_lib "$src" "$obj"
done
pool_wait
for src in $lib_to_build; do
        built_lib=1
        obj="$B/obj/$(basename "$src" .c).o"
        if [ ! -f "$obj" ]; then
                # Someone may be half-way through editing it: the targets that do not need it still build.
                cat "$obj.log" >&2
                lib_failed="$lib_failed $src"
        fi
done
lib_objs=$(for src in lib/*/*.c; do o="$B/obj/$(basename "$src" .c).o"; [ -f "$o" ] && echo "$o"; done)
# Objects of sources that are gone must not stay in the archive.
if [ $built_lib = 1 ] || [ ! -f "$B/libpgr-fuzz.a" ]; then
        rm -f "$B/libpgr-fuzz.a"
        # shellcheck disable=SC2086
        ar rcs "$B/libpgr-fuzz.a" $lib_objs || exit 1
fi
if [ -n "$lib_failed" ]; then
        echo "fuzz: warning: did not compile:$lib_failed" >&2
        # In `make check` a library file the fuzz build cannot compile is a failure, not a shrug.
        if [ "$mode" = smoke ]; then
                echo "fuzz: 0 passed, 1 failed"
                exit 1
        fi
fi

build_failed="" targets_to_build=""
build_target() { # build_target SRC BIN T: BIN, or no BIN and the compiler's messages in logs/build-T.log
        # shellcheck disable=SC2086
        "$cc" $CFLAGS -fsanitize=fuzzer -o "$2" "$1" "$B/libpgr-fuzz.a" $LIBS 2>"$B/logs/build-$3.log" || rm -f "$2"
}
for t in $targets; do
        src="$here/fuzz_$t.c" bin="$B/bin/fuzz_$t"
        if [ ! -f "$src" ]; then
                echo "fuzz: no target '$t' (have: $(echo $all_targets))" >&2
                build_failed="$build_failed $t"
                continue
        fi
        if [ -x "$bin" ] && [ ! "$src" -nt "$bin" ] && [ ! "$B/libpgr-fuzz.a" -nt "$bin" ] && [ ! "$here/fuzz.h" -nt "$bin" ]; then
                continue
        fi
        rm -f "$bin"
        targets_to_build="$targets_to_build $t"
        pool_start build_target "$src" "$bin" "$t"
done
pool_wait
for t in $targets_to_build; do
        if [ ! -x "$B/bin/fuzz_$t" ]; then
                cat "$B/logs/build-$t.log" >&2
                build_failed="$build_failed $t"
        fi
done
if [ "$mode" = build ]; then
        [ -z "$build_failed" ] && { echo "fuzz: built $(echo $targets | wc -w) targets in $B/bin"; exit 0; }
        echo "fuzz: build failed:$build_failed" >&2
        exit 1
fi

# ---- seeds from the real fixtures (generated, under $B; committed hand-written ones stay in tests/fuzz/seeds) ----
seed_file() { # dir name: stdin into dir/name
        mkdir -p "$1"
        cat >"$1/$2"
}
link_base() { # basename of a symlink's target, nothing when absent
        t=$(readlink "$1" 2>/dev/null) && printf '%s' "${t##*/}"
}
file_text() { # the bytes of a text file (no NUL in it), nothing when absent; a builtin, no process:
        # seeds for ~230 fixture devices times 14 files took 36 s of CPU with one cat each
        local v=""
        [ -f "$1" ] && IFS= read -r -d '' v <"$1"
        printf '%s' "$v"
}
pcidev_seed() { # a device directory of a fake root -> one input of fuzz_pcidev.c
        d=$1
        sys=${d%/bus/pci/devices/*}
        bdf=${d##*/}
        file_text "$d/reset_method"; printf '\000'
        link_base "$d/driver"; printf '\000'
        link_base "$d/iommu_group"; printf '\000'
        for a in driver_override d3cold_allowed boot_vga power/control power_state vendor device class \
                 subsystem_vendor subsystem_device modalias; do
                file_text "$d/$a"; printf '\000'
        done
        for a in "$sys"/bus/pci/slots/*/address; do
                slot=""
                [ -f "$a" ] && IFS= read -r slot <"$a"
                [ -n "$slot" ] && [ "$slot" = "${bdf%.*}" ] && { file_text "$a"; break; }
        done
        printf '\000'
        head -c 4096 "$d/config" 2>/dev/null
}
gen_seeds() {
        s="$B/seeds"
        rm -rf "$s"
        mkdir -p "$s"
        if [ -d "$real" ]; then
                for f in "$real"/vmconf/*.conf; do
                        [ -f "$f" ] && seed_file "$s/vmconf" "$(basename "$f")" <"$f"
                done
                # each distinct hostpci value of the real configs
                i=0
                grep -h '^hostpci[0-9]*:' "$real"/vmconf/*.conf 2>/dev/null | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r' |
                        sort -u | while IFS= read -r v; do
                                i=$((i + 1))
                                printf '%s' "$v" | seed_file "$s/hostpci" "real-$i"
                        done
                for f in "$real"/mapping/*.cfg; do
                        [ -f "$f" ] && seed_file "$s/mapping" "$(basename "$f")" <"$f"
                done
                for f in "$real"/dmesg/*.txt; do
                        [ -f "$f" ] && seed_file "$s/kmsg" "$(basename "$f")" <"$f"
                done
                for f in "$real"/hostconf/*; do
                        case $f in
                        *.source) ;;
                        *.conf|*modules*) seed_file "$s/modprobe" "$(basename "$f")" <"$f" ;;
                        *) { printf 'video\000efifb:off\000'; cat "$f"; } | seed_file "$s/cmdline" "$(basename "$f")" ;;
                        esac
                done
                # PCI addresses as lspci and the configs write them
                cat "$real"/lspci-v/*.txt "$real"/lspci-x/*.txt "$real"/vmconf/*.conf 2>/dev/null |
                        grep -oE '([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(\.[0-7])?' | sort -u | head -40 |
                        while IFS= read -r a; do printf '%s' "$a" | seed_file "$s/bdf" "real-$a"; done
        fi
        # fake roots built from the real fixtures by tests/fixtures/mktree: device facts with real
        # config space, and the configs the host files define inline
        if [ -x tests/fixtures/mktree ] && command -v python3 >/dev/null 2>&1 &&
           tests/fixtures/mktree --all "$B/trees" >"$B/logs/mktree.log" 2>&1; then
                mkdir -p "$s/pcidev"
                for d in "$B"/trees/*/sys/bus/pci/devices/*; do
                        [ -d "$d" ] || continue
                        host=${d#"$B"/trees/}
                        host=${host%%/*}
                        pcidev_seed "$d" >"$s/pcidev/$host-${d##*/}"
                done
                for f in "$B"/trees/*/etc/pve/nodes/*/qemu-server/*.conf; do
                        [ -f "$f" ] || continue
                        host=${f#"$B"/trees/}
                        seed_file "$s/vmconf" "tree-${host%%/*}-$(basename "$f")" <"$f"
                done
                for f in "$B"/trees/*/etc/pve/mapping/pci.cfg; do
                        [ -f "$f" ] || continue
                        host=${f#"$B"/trees/}
                        seed_file "$s/mapping" "tree-${host%%/*}" <"$f"
                done
                for f in "$B"/trees/*/run/qemu-server/pci-id-reservations; do
                        [ -f "$f" ] || continue
                        host=${f#"$B"/trees/}
                        seed_file "$s/reservations" "tree-${host%%/*}" <"$f"
                done
                for f in "$B"/trees/*/etc/pve-gpu-reset.json; do
                        [ -f "$f" ] || continue
                        host=${f#"$B"/trees/}
                        seed_file "$s/policy" "tree-${host%%/*}" <"$f"
                done
                for f in "$B"/trees/*/etc/pve/storage.cfg; do
                        [ -f "$f" ] || continue
                        host=${f#"$B"/trees/}
                        { printf 'local:snippets/pve-gpu-reset\000pve\000'; cat "$f"; } | seed_file "$s/storagecfg" "tree-${host%%/*}"
                done
        fi
        if [ -f conf/pve-gpu-reset.json ]; then
                seed_file "$s/policy" pve-gpu-reset.json <conf/pve-gpu-reset.json
        fi
}
# Regenerated when what they come from changed.
stamp="$B/seeds/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find "$0" conf/pve-gpu-reset.json tests/fixtures -newer "$stamp" 2>/dev/null | head -1)" ]; then
        gen_seeds
        touch "$stamp"
fi

# ---- run ----
# run_one TARGET: writes $B/logs/TARGET.{log,result}; result line: status execs corpus_files corpus_bytes crash
run_one() {
        t=$1
        bin="$B/bin/fuzz_$t" log="$B/logs/$t.log" res="$B/logs/$t.result"
        corpus="$B/corpus/$t" art="$B/crashes/$t"
        if [ "$mode" = smoke ]; then
                # bounded and repeatable: the seeds, not whatever corpus earlier long runs grew
                corpus="$B/smoke-corpus/$t"
                rm -rf "$corpus"
        fi
        mkdir -p "$corpus" "$art"
        : >"$log"
        if [ ! -x "$bin" ]; then
                echo "build-failed 0 0 0 -" >"$res"
                return
        fi
        opts="-print_final_stats=1 -timeout=20 -rss_limit_mb=2048 -artifact_prefix=$art/"
        [ -f "$here/dict/$t.dict" ] && opts="$opts -dict=$here/dict/$t.dict"
        # whole kernel logs as seeds would make every input ~100 KiB; the parser works line by line
        [ "$t" = kmsg ] && opts="$opts -max_len=16384"
        status=ok crash=-
        # temp roots of the targets that need files (fuzz_tmpdir() in fuzz.h), gone even after a crash
        FUZZ_TMPDIR=$(mktemp -d /dev/shm/pgr-fuzz.XXXXXX 2>/dev/null || mktemp -d)
        export FUZZ_TMPDIR
        # 1. every input that once crashed must not crash any more
        if [ -d "$here/crashes/$t" ] && [ -n "$(ls -A "$here/crashes/$t" 2>/dev/null)" ]; then
                # shellcheck disable=SC2086
                if ! "$bin" $opts "$here/crashes/$t"/* >>"$log" 2>&1; then
                        status=regression
                fi
        fi
        # 2. the seeds once, then fuzz for the rest of the time (new inputs go to the first directory)
        #    (a crash input that still crashes is left out, so the run can look for new ones)
        dirs="$corpus"
        for d in "$here/seeds/$t" "$B/seeds/$t" "$here/crashes/$t"; do
                [ "$d" = "$here/crashes/$t" ] && [ "$status" = regression ] && continue
                [ -d "$d" ] && dirs="$dirs $d"
        done
        # shellcheck disable=SC2086
        "$bin" $opts -max_total_time="$seconds" $dirs >>"$log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
                [ "$status" = regression ] && status=regr+crash || status=crashed
                crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
                [ -n "$crash" ] || crash="(exit $rc, see $log)"
        elif [ "$status" = regression ]; then
                crash="$(sed -n 's/.*Test unit written to //p' "$log" | head -1) (a known one in tests/fuzz/crashes/$t)"
        elif ! grep -q '^#[0-9]*[[:space:]]*INITED ' "$log"; then
                # libFuzzer prints INITED once every seed and corpus input has run: without it the run
                # did not test the whole corpus.
                status=not-inited crash="(no INITED line: the corpus did not run, see $log)"
        fi
        rm -rf "$FUZZ_TMPDIR"
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        files=$(ls "$corpus" | wc -l)
        bytes=$(du -sb "$corpus" 2>/dev/null | cut -f1)
        echo "$status ${execs:-0} $files ${bytes:-0} $crash" >"$res"
}

start=$(date +%s)
# A new target starts as soon as one ends (not after the slowest of a batch).
pool_max=$jobs
for t in $targets; do
        [ "$mode" = fuzz ] && echo "fuzz: $t for ${seconds}s ..."
        if [ "$jobs" -gt 1 ]; then
                pool_start run_one "$t"
        else
                run_one "$t"
        fi
done
pool_wait

# ---- summary ----
passed=0 failed=0
printf '\n%-14s %-12s %12s %10s %12s  %s\n' target result executions corpus corpus-bytes crash-input
for t in $targets; do
        res="$B/logs/$t.result"
        if [ -f "$res" ]; then
                read -r status execs files bytes crash <"$res"
        else
                status=build-failed execs=0 files=0 bytes=0 crash=-
        fi
        printf '%-14s %-12s %12s %10s %12s  %s\n' "$t" "$status" "$execs" "$files" "$bytes" "$crash"
        if [ "$status" = ok ]; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                echo "----- $t: tail of $B/logs/$t.log" >&2
                grep -E 'ERROR|SUMMARY|broken promise|runtime error|Test unit written|^#0|^    #[0-9] ' "$B/logs/$t.log" | head -30 >&2
        fi
done
echo "fuzz: ${seconds}s per target, $(( $(date +%s) - start ))s in all; logs and crash inputs in $B/"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
