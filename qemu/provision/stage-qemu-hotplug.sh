# shellcheck shell=bash
# Stage "qemu-hotplug" (only with --with-hotplug-qemu): the qemu stage's Debian QEMU with
# patches/vfio-user-pba-teardown.patch applied to the built binary by qemu-binpatch.py, so that
# QMP device_del of a vfio-user-pci device with MSI-X no longer aborts QEMU. Everything but the
# qemu-system-x86_64 executable (libraries, firmware, modules) is the qemu stage's sysroot.
# Sourced by provision.sh; uses lib.sh.
#
# Output (in the stage directory):
#   qemu-system-x86_64   patched copy of the qemu stage's binary
#   qemu                 wrapper: like the qemu stage's, but runs the patched binary; finds the
#                        qemu stage as ../qemu-<qemu key>/ next to its own directory
#   meta                 qemu_version, qemu_package, patch status, call site, sha256s, and
#                        qemu_stage_complete (the qemu stage's .complete, to notice a rebuilt
#                        qemu stage under the same key)

# shellcheck disable=SC2034  # read by provision.sh
QEMU_HOTPLUG_STAGE_STEPS=2
QEMU_HOTPLUG_PATCH=vfio-user-pba-teardown.patch

# stage_qemu_hotplug_build OUT QEMU_STAGE_DIR BINPATCH_SCRIPT
stage_qemu_hotplug_build() {
    local out=$1 qstage=$2 binpatch=$3
    local qname=${qstage##*/}
    local src=$qstage/sysroot/usr/bin/qemu-system-x86_64

    step "qemu-hotplug: patch qemu-system-x86_64 of $qname (patches/$QEMU_HOTPLUG_PATCH)"
    [[ -f $qstage/.complete && -x $src && -x $qstage/qemu ]] ||
        die "qemu-hotplug: the qemu stage $qstage is incomplete; run provision.sh --force"
    cp "$src" "$out/qemu-system-x86_64"
    local result
    if ! result=$(python3 "$binpatch" "$out/qemu-system-x86_64" 2>>"$STAGE_LOG"); then
        local why
        why=$(tail -n1 "$STAGE_LOG")
        why=${why#qemu-binpatch: }
        why=${why#"$out/qemu-system-x86_64: "}
        die "qemu-hotplug: cannot apply patches/$QEMU_HOTPLUG_PATCH to $(meta_get "$qstage/meta" qemu_package) ($why); log: $STAGE_LOG"
    fi
    printf '%s\n' "$result" >>"$STAGE_LOG"
    local status site
    status=$(sed -n 's/^status=//p' <<<"$result")
    site=$(sed -n 's/^site=//p' <<<"$result")
    case $status in
    patched) info "qemu-hotplug: removed the memory_region_del_subregion call at $site (vfio-user-pci instance_finalize)" ;;
    already-fixed) info "qemu-hotplug: this QEMU has the fix already; using its binary unchanged" ;;
    *) die "qemu-hotplug: qemu-binpatch.py gave no status; log: $STAGE_LOG" ;;
    esac

    step "qemu-hotplug: write the wrapper and verify"
    # The qemu stage's wrapper, with the sysroot one directory up and our binary.
    # shellcheck disable=SC2016  # literal text of the generated wrapper
    local from_s='s=$d/sysroot' to_s="s=\$d/../$qname/sysroot"
    # shellcheck disable=SC2016
    local from_b='"$s/usr/bin/qemu-system-x86_64"' to_b='"$d/qemu-system-x86_64"'
    local w
    w=$(<"$qstage/qemu")
    [[ $w == *"$from_s"* && $w == *"$from_b"* ]] ||
        die "qemu-hotplug: unexpected wrapper format in $qstage/qemu; log: $STAGE_LOG"
    w=${w/"$from_s"/"$to_s"}
    w=${w/"$from_b"/"$to_b"}
    w=${w/"(stage qemu)"/"(stage qemu-hotplug)"}
    w=${w/"the sysroot is the directory next to this script."/"the sysroot is the qemu stage's (../$qname/sysroot); the binary is patched."}
    printf '%s\n' "$w" >"$out/qemu"
    chmod 755 "$out/qemu"
    # Checked where it will live: the wrapper resolves the sysroot relative to itself.
    local version
    if ! version=$(cd "$out" && "$out/qemu" --version 2>>"$STAGE_LOG") || [[ $version != QEMU* ]]; then
        die "qemu-hotplug: the patched QEMU does not run ('qemu --version'); log: $STAGE_LOG"
    fi
    version=${version%%$'\n'*}
    "$out/qemu" -nodefaults -machine none -device help 2>>"$STAGE_LOG" | grep -q '"vfio-user-pci"' ||
        die "qemu-hotplug: the patched QEMU lists no vfio-user-pci device; log: $STAGE_LOG"
    info "qemu-hotplug: $version, patch $status"
    {
        printf 'qemu_version=%s\n' "$version"
        printf 'qemu_package=%s\n' "$(meta_get "$qstage/meta" qemu_package)"
        printf 'patch=%s\n' "$QEMU_HOTPLUG_PATCH"
        printf 'patch_status=%s\n' "$status"
        sed -n 's/^\(site\|sha256_before\|sha256_after\)=/binary_\1=/p' <<<"$result"
        printf 'qemu_stage_complete=%s\n' "$(<"$qstage/.complete")"
    } >"$out/meta"
}
