# shellcheck shell=bash
# Stage "drivers": our own code built for the guest. Every out-of-tree kernel module
# source dir of the drivers dir is built against the guest kernel's headers, warning-free,
# and the guest probes (qemu/guest/probes: small C programs against alsa-lib) are built
# against the guest's userland (the guest stage's sysroot/); both are appended to the
# initramfs, the modules as /lib/modules/pcieemu/<name>.ko, the probes as /usr/bin/<name>.
# Sourced by provision.sh; uses lib.sh.
#
# Output (in the stage directory):
#   ko/<name>.ko     the built modules
#   probes/<name>    the built probes
#   drivers.cpio     newc archive placing them at /lib/modules/pcieemu/ and /usr/bin/
#   initrd           guest stage's initrd-base.cpio followed by drivers.cpio
#   meta             drivers=a,b (comma-separated module names, may be empty), probes=...

# shellcheck disable=SC2034  # read by provision.sh
DRIVERS_STAGE_STEPS=3

# driver_source_dirs DIR: names of the immediate subdirectories of DIR that hold a
# Kbuild or Makefile (one kernel module source dir each), sorted.
driver_source_dirs() {
    local dir=$1 d
    [[ -d $dir ]] || return 0
    for d in "$dir"/*/; do
        [[ -d $d ]] || continue
        d=${d%/}
        if [[ -f $d/Kbuild || -f $d/Makefile ]]; then
            printf '%s\n' "${d##*/}"
        fi
    done | LC_ALL=C sort
}

# first_build_problem LOG: the most useful single line of a failed kernel build log.
first_build_problem() {
    local log=$1 line
    for re in ': (fatal )?error: ' '^ERROR: ' '[Ee]rror: ' '[Ww][Aa][Rr][Nn][Ii][Nn][Gg]: ' '\*\*\* '; do
        line=$(grep -m1 -E "$re" "$log" || true)
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return
        fi
    done
    tail -n1 "$log"
}

# build_probes PROBES_DIR GUEST_STAGE_DIR OUT SCRATCH: make the probes of PROBES_DIR (its
# Makefile's "all" target) against the guest stage's sysroot into OUT, warning-free, and
# check that each needs only libraries the initramfs has.
build_probes() {
    local pdir=$1 gstage=$2 out=$3 s=$4
    local sysroot=$gstage/sysroot b=$s/probes-build plog=$s/probes.make.log rc=0
    [[ -d $sysroot ]] || die "drivers: the guest stage $gstage has no sysroot/ to build the probes against; log: $STAGE_LOG"
    command -v gcc-12 >/dev/null || die "drivers: the guest probes build with 'gcc-12', which is not installed on the host (Debian package gcc-12)"
    mkdir -p "$b" "$out"
    cp -a "$pdir/." "$b/"
    make -C "$b" CC=gcc-12 SYSROOT="$sysroot" OUT="$out" all >"$plog" 2>&1 || rc=$?
    sed -i "s|$(printf '%s' "$b" | sed 's/[][\\.*^$|]/\\&/g')|$(printf '%s' "$pdir" | sed 's/[\\&|]/\\&/g')|g" "$plog"
    {
        printf '+ make -C %s CC=gcc-12 SYSROOT=%s OUT=%s all   (source %s)\n' "$b" "$sysroot" "$out" "$pdir"
        cat "$plog"
    } >>"$STAGE_LOG"
    if ((rc != 0)); then
        die "drivers: the guest probes failed to build: $(first_build_problem "$plog"); log: $STAGE_LOG"
    fi
    if grep -qi 'warning:' "$plog"; then
        die "drivers: the guest probes built with warnings: $(grep -m1 -i 'warning:' "$plog"); log: $STAGE_LOG"
    fi
    # Every library a probe needs must be in the initramfs (the guest stage put aplay's there).
    local have p lib
    have=$("$gstage/tools/busybox" cpio -t <"$gstage/initrd-base.cpio" 2>/dev/null | sed -n 's|^\./||; s|^.*lib/x86_64-linux-gnu/||p')
    for p in "$out"/*; do
        [[ -f $p && -x $p ]] || continue
        while IFS= read -r lib; do
            [[ -z $lib ]] && continue
            grep -qxF "$lib" <<<"$have" ||
                die "drivers: probe ${p##*/} needs $lib, which the guest initramfs lacks; log: $STAGE_LOG"
        done < <(LC_ALL=C readelf -d "$p" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
    done
}

# stage_drivers_build OUT DRIVERS_DIR GUEST_STAGE_DIR PROBES_DIR: build into the temp dir OUT.
stage_drivers_build() {
    local out=$1 ddir=$2 gstage=$3 pdir=${4:-}
    local kdir=$gstage/$GUEST_KDIR_REL
    local s=$out/.scratch
    mkdir -p "$out/ko" "$s/build" "$s/cpio/lib/modules/pcieemu"

    local names=() n
    while IFS= read -r n; do [[ -n $n ]] && names+=("$n"); done < <(driver_source_dirs "$ddir")

    step "drivers: build ${#names[@]} module dir(s) from $ddir against $GUEST_KABI"
    if ((${#names[@]})); then
        command -v make >/dev/null || die "drivers: 'make' is not installed on the host"
        local cc
        # shellcheck disable=SC2016  # a literal make variable
        cc=$(sed -n 's/^CC = .*\$(CROSS_COMPILE)\([^ ]*\).*/\1/p' "$kdir/.kernelvariables" 2>/dev/null || true)
        cc=${cc:-gcc-12}
        command -v "$cc" >/dev/null ||
            die "drivers: the kernel headers build with '$cc', which is not installed on the host (Debian package $cc)"
    fi
    local jobs
    jobs=$(nproc 2>/dev/null || echo 2)
    local built=() src b mlog rc ko kname vm problem
    for n in "${names[@]}"; do
        src=$ddir/$n
        b=$s/build/$n
        mlog=$s/$n.make.log
        mkdir -p "$b"
        cp -a "$src/." "$b/"
        find "$b" \( "${DRIVER_JUNK_FIND[@]}" \) -prune -exec rm -rf {} +
        rc=0
        make -C "$kdir" M="$b" KCFLAGS=-Werror -j"$jobs" modules >"$mlog" 2>&1 || rc=$?
        # Report source paths, not the temporary build copy.
        local re_b rep_src
        re_b=$(printf '%s' "$b" | sed 's/[][\\.*^$|]/\\&/g')
        rep_src=$(printf '%s' "$src" | sed 's/[\\&|]/\\&/g')
        sed -i "s|$re_b|$rep_src|g" "$mlog"
        {
            printf '+ make -C %s M=%s KCFLAGS=-Werror modules   (source %s)\n' "$kdir" "$b" "$src"
            cat "$mlog"
        } >>"$STAGE_LOG"
        if ((rc != 0)); then
            problem=$(first_build_problem "$mlog")
            die "drivers: $n failed to build: $problem; log: $STAGE_LOG"
        fi
        if grep -qi 'warning:' "$mlog"; then
            problem=$(grep -m1 -i 'warning:' "$mlog")
            die "drivers: $n built with warnings (warning-free builds are required): $problem; log: $STAGE_LOG"
        fi
        local kos=()
        while IFS= read -r ko; do kos+=("$ko"); done < <(find "$b" -name '*.ko' | LC_ALL=C sort)
        ((${#kos[@]})) || die "drivers: $n built no .ko file (is obj-m set in its Kbuild/Makefile?); log: $STAGE_LOG"
        for ko in "${kos[@]}"; do
            kname=${ko##*/}
            kname=${kname%.ko}
            [[ ! -e $out/ko/$kname.ko ]] || die "drivers: two module dirs build $kname.ko; log: $STAGE_LOG"
            vm=$(tr '\0' '\n' <"$ko" | LC_ALL=C grep -a -m1 '^vermagic=' || true)
            [[ $vm == "vermagic=$GUEST_KABI "* ]] ||
                die "drivers: $kname.ko has '$vm', expected vermagic $GUEST_KABI; log: $STAGE_LOG"
            cp "$ko" "$out/ko/$kname.ko"
            cp "$ko" "$s/cpio/lib/modules/pcieemu/$kname.ko"
            built+=("$kname")
            info "drivers: $kname.ko ($(human "$(du_bytes "$ko")")) from $src"
        done
    done

    local probes=()
    step "drivers: build the guest probes from ${pdir:-nowhere} against the guest's alsa-lib"
    if [[ -n $pdir && -f $pdir/Makefile ]]; then
        build_probes "$pdir" "$gstage" "$out/probes" "$s"
        mkdir -p "$s/cpio/usr/bin"
        local p
        for p in "$out/probes"/*; do
            [[ -f $p && -x $p ]] || continue
            n=${p##*/}
            probes+=("$n")
            install -m 755 "$p" "$s/cpio/usr/bin/$n"
            info "drivers: probe $n ($(human "$(du_bytes "$p")")) from $pdir"
        done
        ((${#probes[@]})) || die "drivers: $pdir/Makefile built no probe into OUT; log: $STAGE_LOG"
    fi

    step "drivers: pack the drivers cpio and the final initrd"
    (cd "$s/cpio" && find . -mindepth 1 | LC_ALL=C sort | "$gstage/tools/busybox" cpio -o -H newc -R 0:0) \
        >"$out/drivers.cpio" 2>>"$STAGE_LOG" || die "drivers: cpio failed; log: $STAGE_LOG"
    cat "$gstage/initrd-base.cpio" "$out/drivers.cpio" >"$out/initrd"
    info "drivers: initrd $(human "$(du_bytes "$out/initrd")") (${#built[@]} driver(s), ${#probes[@]} probe(s))"

    rm -rf "$s"
    local list plist
    list=$(IFS=,; printf '%s' "${built[*]}")
    plist=$(IFS=,; printf '%s' "${probes[*]}")
    printf 'drivers=%s\nprobes=%s\n' "$list" "$plist" >"$out/meta"
}
