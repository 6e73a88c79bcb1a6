# shellcheck shell=bash
# Stage "guest": the Debian bookworm kernel (as a PVH vmlinux), a busybox initramfs with
# the guest /init and agent, and the kernel headers for out-of-tree module builds.
# Sourced by provision.sh; uses lib.sh.
#
# Output (in the stage directory):
#   vmlinux            PVH-bootable ELF kernel (decompressed from the bzImage)
#   initrd-base.cpio   newc initramfs: busybox, /init, agent, modules, ALSA + pciutils tools
#   config             the kernel's .config
#   headers/           linux-headers-$KABI + -common + linux-kbuild, extracted; kdir is
#                      headers/usr/src/linux-headers-$KABI
#   tools/busybox      the guest's busybox-static (a static binary; the drivers stage packs
#                      its cpio with it, so the host needs no cpio)
#   sysroot/           the guest's userland packages with libc6-dev and libasound2-dev,
#                      extracted (no kernel, no docs): the drivers stage builds the guest
#                      probes against it with gcc --sysroot, so they link against the
#                      guest's glibc and alsa-lib, never the host's
#   meta               kabi=..., kernel_package=..., modules=..., ...

# shellcheck disable=SC2034  # read by provision.sh
GUEST_STAGE_STEPS=6
GUEST_SUITES="bookworm bookworm-updates bookworm-security"

# Userland packages; the dependency closure (their libraries) is downloaded too.
GUEST_USER_PACKAGES=(busybox-static alsa-utils libasound2 libasound2-data pciutils libpci3)

# Development packages for the guest probes (qemu/guest/probes), built by the drivers stage
# against sysroot/; nothing of them enters the initramfs.
GUEST_DEV_PACKAGES=(libc6-dev libasound2-dev)

# Kernel modules baked into the initramfs (plus their dependency closure).
GUEST_MODULES=(
    virtio_pci virtio_console 9pnet_virtio 9p
    soundcore snd snd-timer snd-pcm snd-hwdep snd-hda-intel snd-hda-codec-generic
    snd-dummy snd-aloop
)

# Programs copied from the extracted packages, with their libraries.
GUEST_TOOLS=(usr/bin/aplay usr/bin/amixer usr/bin/speaker-test usr/bin/lspci usr/bin/setpci)

# resolve_kabi A: sets KABI and KVER from the candidate of the linux-image-amd64 metapackage.
resolve_kabi() {
    local A=$1 deps
    deps=$(apt_run "$A" apt-cache show --no-all-versions linux-image-amd64 2>>"$STAGE_LOG" |
        sed -n 's/^Depends: //p' | head -n1)
    if [[ $deps =~ (linux-image-([0-9][^ ,]*-amd64))\ \(=\ ([^\)]+)\) ]]; then
        KABI=${BASH_REMATCH[2]}
        KVER=${BASH_REMATCH[3]}
    else
        die "guest: cannot resolve the kernel ABI: package linux-image-amd64 not found in $GUEST_SUITES (Depends: '${deps:-none}'); log: $STAGE_LOG"
    fi
}

# headers_packages A: prints the packages linux-headers-$KABI depends on that we need
# (the -common headers and linux-kbuild), each pinned to the image version.
headers_packages() {
    local A=$1 deps d name
    deps=$(apt_run "$A" apt-cache show "linux-headers-$KABI=$KVER" 2>>"$STAGE_LOG" |
        sed -n 's/^Depends: //p' | head -n1)
    IFS=',' read -r -a deps_arr <<<"$deps"
    for d in "${deps_arr[@]}"; do
        name=${d# }
        name=${name%% *}
        case $name in
        linux-headers-*-common | linux-kbuild-*) printf '%s=%s\n' "$name" "$KVER" ;;
        esac
    done
}

# elf_needed FILE: the DT_NEEDED sonames of FILE.
elf_needed() {
    LC_ALL=C readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
}

# copy_with_libs X ROOT REL...: copy each X/REL to ROOT/REL (keeping relative symlinks
# inside X), then the closure of their shared libraries, found in X only (never the
# host), as real files at the same relative paths.
copy_with_libs() {
    local x=$1 root=$2
    shift 2
    local queue=() seen=" " rel lib dir found src
    for rel in "$@"; do
        mkdir -p "$root/$(dirname "$rel")"
        cp -L "$x/$rel" "$root/$rel"
        queue+=("$root/$rel")
    done
    while ((${#queue[@]})); do
        local f=${queue[0]}
        queue=("${queue[@]:1}")
        while IFS= read -r lib; do
            [[ -n $lib ]] || continue
            [[ $seen == *" $lib "* ]] && continue
            seen+="$lib "
            found=""
            for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib; do
                if [[ -e $x/$dir/$lib || -L $x/$dir/$lib ]]; then
                    found=$dir/$lib
                    break
                fi
            done
            [[ -n $found ]] || die "guest: library $lib (needed by ${f#"$root"/}) is not in the downloaded packages; log: $STAGE_LOG"
            src=$(resolve_in_root "$x" "$found")
            mkdir -p "$root/$(dirname "$found")"
            cp "$src" "$root/$found"
            queue+=("$root/$found")
        done < <(elf_needed "$f")
    done
}

# resolve_in_root X REL: follow symlinks of X/REL, treating absolute targets as relative
# to X (the extraction root), and print the final path.
resolve_in_root() {
    local x=$1 rel=$2 n=0 t
    local p=$x/$rel
    while [[ -L $p ]]; do
        t=$(readlink "$p")
        if [[ $t == /* ]]; then p=$x$t; else p=$(dirname "$p")/$t; fi
        n=$((n + 1))
        ((n < 40)) || die "guest: symlink loop at $rel; log: $STAGE_LOG"
    done
    [[ -e $p ]] || die "guest: $rel resolves to missing $p; log: $STAGE_LOG"
    printf '%s\n' "$p"
}

# module_closure MODDIR NAME...: prints the relative paths (kernel/...) of the named
# modules and everything they depend on, read from each .ko's modinfo "depends=".
module_closure() {
    local moddir=$1
    shift
    declare -A index=()
    local f key
    while IFS= read -r f; do
        key=${f##*/}
        key=${key%.ko}
        key=${key//-/_}
        index[$key]=$f
    done < <(cd "$moddir" && find kernel -name '*.ko')
    local queue=("$@") done_=" " name dep deps
    while ((${#queue[@]})); do
        name=${queue[0]//-/_}
        queue=("${queue[@]:1}")
        [[ $done_ == *" $name "* ]] && continue
        done_+="$name "
        f=${index[$name]:-}
        [[ -n $f ]] || die "guest: kernel module $name not found in linux-image-$KABI; log: $STAGE_LOG"
        printf '%s\n' "$f"
        deps=$(tr '\0' '\n' <"$moddir/$f" | LC_ALL=C grep -a -m1 '^depends=' || true)
        deps=${deps#depends=}
        IFS=',' read -r -a dep_arr <<<"$deps"
        for dep in "${dep_arr[@]}"; do
            [[ -n $dep ]] && queue+=("$dep")
        done
    done
}

# build_rootfs X ROOT GUESTDIR: stage the initramfs tree.
build_rootfs() {
    local x=$1 root=$2 gdir=$3
    local bb=$x/bin/busybox
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib64,etc,proc,sys,dev,run,tmp,root,mnt/host,lib/modules/pcieemu}
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"

    # busybox, one symlink per applet at its usual place.
    cp "$bb" "$root/bin/busybox"
    local applet applets
    applets=$("$bb" --list)
    while IFS= read -r applet; do
        [[ -n $applet && $applet != linuxrc && $applet != bin/busybox ]] || continue
        mkdir -p "$root/$(dirname "$applet")"
        [[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
    done < <("$bb" --list-full)
    local must
    for must in sbin/modprobe sbin/insmod sbin/poweroff bin/sh sbin/devmem usr/bin/base64 usr/bin/setsid bin/cttyhack; do
        if [[ ! -L $root/$must ]]; then
            # Not where --list-full said; look for the applet by name.
            if grep -qx "${must##*/}" <<<"$applets"; then
                ln -sf /bin/busybox "$root/$must"
            else
                die "guest: busybox-static has no '${must##*/}' applet; log: $STAGE_LOG"
            fi
        fi
    done

    # User tools and their libraries, from the downloaded packages only.
    copy_with_libs "$x" "$root" "${GUEST_TOOLS[@]}"
    ln -s aplay "$root/usr/bin/arecord"
    # The loader: binaries ask for /lib64/ld-linux-x86-64.so.2.
    cp "$(resolve_in_root "$x" lib64/ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"

    # ALSA configuration (amixer needs ctl/), pci.ids for lspci names.
    mkdir -p "$root/usr/share/alsa"
    local a
    for a in alsa.conf cards ctl pcm; do
        [[ -e $x/usr/share/alsa/$a ]] || die "guest: libasound2-data lacks usr/share/alsa/$a; log: $STAGE_LOG"
        cp -a "$x/usr/share/alsa/$a" "$root/usr/share/alsa/"
    done
    if [[ -e $x/usr/share/misc/pci.ids ]]; then
        mkdir -p "$root/usr/share/misc"
        cp -L "$x/usr/share/misc/pci.ids" "$root/usr/share/misc/pci.ids"
    fi

    # Users and groups.
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\naudio:x:29:\n' >"$root/etc/group"
    printf 'pcieemu\n' >"$root/etc/hostname"

    # Kernel modules: the wanted ones and their dependency closure, then depmod.
    local src=$x/lib/modules/$KABI dst=$root/lib/modules/$KABI m count=0
    mkdir -p "$dst"
    local mods
    mods=$(module_closure "$src" "${GUEST_MODULES[@]}")
    while IFS= read -r m; do
        mkdir -p "$dst/$(dirname "$m")"
        cp "$src/$m" "$dst/$m"
        count=$((count + 1))
    done <<<"$mods"
    for m in modules.builtin modules.builtin.modinfo modules.order; do
        [[ -e $src/$m ]] && cp "$src/$m" "$dst/$m"
    done
    run "$bb" depmod -b "$root" "$KABI" || die "guest: depmod failed; log: $STAGE_LOG"
    [[ -s $dst/modules.dep ]] || die "guest: depmod wrote no modules.dep; log: $STAGE_LOG"
    GUEST_MODULE_COUNT=$count

    # The guest's /init and agent (qemu/guest/).
    install -m 755 "$gdir/init" "$root/init"
    install -m 755 "$gdir/agent.sh" "$root/bin/pcieemu-agent"
}

# make_sysroot X OUT: move what a userland build needs out of the extraction root X into
# OUT (headers, libraries, crt files, the loader), and make absolute symlinks relative so
# that nothing under OUT points at the host's files.
make_sysroot() {
    local x=$1 out=$2 d l t
    [[ -f $x/usr/include/alsa/asoundlib.h ]] || die "guest: libasound2-dev has no usr/include/alsa/asoundlib.h; log: $STAGE_LOG"
    [[ -e $x/usr/lib/x86_64-linux-gnu/libc.so ]] || die "guest: libc6-dev has no usr/lib/x86_64-linux-gnu/libc.so; log: $STAGE_LOG"
    mkdir -p "$out"
    for d in usr/include usr/lib lib lib64; do
        if [[ -e $x/$d ]]; then
            mkdir -p "$out/$(dirname "$d")"
            mv "$x/$d" "$out/$d"
        fi
    done
    rm -rf "$out/lib/modules" "$out/lib/firmware"
    while IFS= read -r -d '' l; do
        t=$(readlink "$l")
        [[ $t == /* ]] || continue
        ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$out$t")" "$l"
    done < <(find "$out" -type l -print0)
}

# extract_vmlinux BZIMAGE OUT: decompress the xz payload of a bzImage into a PVH ELF.
extract_vmlinux() {
    local bz=$1 out=$2 off magic
    # grep -ob prints "offset:match" and the match holds a NUL byte: keep the offset only.
    off=$(LC_ALL=C grep -obUaP -m1 '\xfd7zXZ\x00' "$bz" | LC_ALL=C awk -F: 'NR == 1 { print $1 }' || true)
    [[ -n $off ]] || die "guest: no xz stream in ${bz##*/} (kernel not CONFIG_KERNEL_XZ?); log: $STAGE_LOG"
    # Process substitution, not a pipe: with pipefail, tail's SIGPIPE would fail the run.
    xz -dc --single-stream < <(tail -c +$((off + 1)) "$bz") >"$out" 2>>"$STAGE_LOG" ||
        die "guest: xz could not decompress the kernel payload of ${bz##*/}; log: $STAGE_LOG"
    magic=$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')
    [[ $magic == 7f454c46 ]] || die "guest: extracted vmlinux is not an ELF file (magic $magic); log: $STAGE_LOG"
    local notes
    notes=$(LC_ALL=C readelf -n "$out" 2>/dev/null || true)
    if [[ $notes != *Xen* ]]; then
        info "guest: warning: vmlinux has no Xen/PVH ELF note; -kernel may not boot it"
    fi
}

# stage_guest_build OUT GUESTDIR: build the stage into the (temporary) directory OUT.
stage_guest_build() {
    local out=$1 gdir=$2
    local s=$out/.scratch
    local A=$s/apt x=$s/x root=$s/root
    local mirror secmirror
    mirror=$(debian_mirror main)
    secmirror=$(debian_mirror security)
    local suites="bookworm,bookworm-updates,bookworm-security"

    step "guest: apt-get update ($GUEST_SUITES), resolve the kernel ABI"
    local f
    for f in init agent.sh; do
        [[ -f $gdir/$f ]] || die "guest: missing $gdir/$f"
    done
    apt_private "$A"
    apt_source "$A" bookworm "$mirror" bookworm bookworm-updates
    apt_source "$A" bookworm-security "$secmirror" bookworm-security
    apt_update "$A" "suites $GUEST_SUITES from $mirror and $secmirror"
    resolve_kabi "$A"
    local hdr_pkgs
    hdr_pkgs=$(headers_packages "$A")
    [[ $hdr_pkgs == *linux-headers-*-common* && $hdr_pkgs == *linux-kbuild-* ]] ||
        die "guest: cannot find the -common headers / linux-kbuild dependencies of package linux-headers-$KABI=$KVER in $suites; log: $STAGE_LOG"
    info "guest: kernel $KABI (linux-image-amd64 -> linux-image-$KABI $KVER)"

    step "guest: download kernel $KABI, headers, busybox-static, alsa-utils, pciutils, libasound2-dev"
    local kpkgs=("linux-image-$KABI=$KVER" "linux-headers-$KABI=$KVER")
    local p
    while IFS= read -r p; do kpkgs+=("$p"); done <<<"$hdr_pkgs"
    apt_download "$A" "$suites" exact "${kpkgs[@]}"
    apt_download "$A" "$suites" closure "${GUEST_USER_PACKAGES[@]}" "${GUEST_DEV_PACKAGES[@]}"
    local debs=("$A"/cache/archives/*.deb)
    info "guest: ${#debs[@]} packages, $(human "$(du_bytes "${debs[@]}")")"

    step "guest: unpack packages"
    local d hdebs=() udebs=()
    for d in "${debs[@]}"; do
        case ${d##*/} in
        linux-headers-* | linux-kbuild-*) hdebs+=("$d") ;;
        *) udebs+=("$d") ;;
        esac
    done
    extract_debs "$x" "${udebs[@]}"
    extract_debs "$out/headers" "${hdebs[@]}"
    rm -rf "$A/cache/archives"
    [[ -f $x/boot/vmlinuz-$KABI ]] || die "guest: linux-image-$KABI has no boot/vmlinuz-$KABI; log: $STAGE_LOG"
    [[ -x $x/bin/busybox ]] || die "guest: busybox-static has no bin/busybox; log: $STAGE_LOG"
    local bbver
    bbver=$("$x/bin/busybox" 2>/dev/null || true)
    bbver=${bbver%%$'\n'*}
    bbver=${bbver#BusyBox }
    bbver=${bbver%% *}

    step "guest: build the initramfs (busybox $bbver, modules, ALSA, pciutils)"
    build_rootfs "$x" "$root" "$gdir"
    (cd "$root" && find . | LC_ALL=C sort | "$x/bin/busybox" cpio -o -H newc -R 0:0) \
        >"$out/initrd-base.cpio" 2>>"$STAGE_LOG" ||
        die "guest: cpio of the initramfs failed; log: $STAGE_LOG"
    info "guest: initrd-base.cpio $(human "$(du_bytes "$out/initrd-base.cpio")"), $GUEST_MODULE_COUNT modules"

    step "guest: extract the PVH vmlinux"
    extract_vmlinux "$x/boot/vmlinuz-$KABI" "$out/vmlinux"
    cp "$x/boot/config-$KABI" "$out/config"
    info "guest: vmlinux $(human "$(du_bytes "$out/vmlinux")")"

    step "guest: kernel headers for out-of-tree modules"
    local kdir=$out/headers/usr/src/linux-headers-$KABI
    [[ -f $kdir/Makefile ]] || die "guest: linux-headers-$KABI has no Makefile; log: $STAGE_LOG"
    # Debian's headers Makefile includes the -common Makefile by absolute path under
    # /usr/src. Make it relative to this Makefile's own location, so the tree works
    # wherever it is (the stage is built in a temp dir and renamed into place).
    # shellcheck disable=SC2016  # literal make functions
    sed -i 's|^include /usr/src/\(linux-headers-[^/]*\)/Makefile$|include $(dir $(realpath $(lastword $(MAKEFILE_LIST))))../\1/Makefile|' "$kdir/Makefile"
    # shellcheck disable=SC2016
    grep -q '^include \$(dir ' "$kdir/Makefile" ||
        die "guest: unexpected include line in $kdir/Makefile (cannot relocate the headers); log: $STAGE_LOG"
    local common
    common=$(sed -n 's|^include .*\.\./\(linux-headers-[^/]*\)/Makefile$|\1|p' "$kdir/Makefile")
    [[ -f $out/headers/usr/src/$common/Makefile ]] ||
        die "guest: $common/Makefile missing from the extracted headers; log: $STAGE_LOG"
    [[ -x $kdir/scripts/basic/fixdep || -x $kdir/scripts/mod/modpost ]] ||
        die "guest: the kbuild tools (scripts/) are missing from the extracted headers; log: $STAGE_LOG"
    info "guest: headers $(human "$(du_bytes "$out/headers")")"

    # busybox stays available to the drivers stage (cpio) after the scratch is gone.
    mkdir -p "$out/tools"
    cp "$x/bin/busybox" "$out/tools/busybox"

    make_sysroot "$x" "$out/sysroot"
    info "guest: sysroot $(human "$(du_bytes "$out/sysroot")") (glibc and alsa-lib headers and libraries)"

    rm -rf "$s"
    local modlist
    modlist=$(IFS=,; printf '%s' "${GUEST_MODULES[*]}")
    {
        printf 'kabi=%s\n' "$KABI"
        printf 'kernel_package=linux-image-%s=%s\n' "$KABI" "$KVER"
        printf 'busybox=%s\n' "$bbver"
        printf 'modules=%s\n' "$modlist"
        printf 'kdir_rel=headers/usr/src/linux-headers-%s\n' "$KABI"
    } >"$out/meta"
}
