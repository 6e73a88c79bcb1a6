#!/usr/bin/env bash
# PcieEmu guest provisioning: QEMU (vfio-user client) + guest kernel/initramfs + our
# out-of-tree kernel modules, built on demand into a content-keyed cache.
#
#   qemu/provision/provision.sh [--cache DIR] [--drivers-dir DIR] [--force] [--prune]
#                               [--with-hotplug-qemu]
#
# stdout protocol: "@@STEP i/n text" progress lines, free-form log lines, and finally
# either "@@MANIFEST <path>" (exit 0) or "@@ERROR <message>" (exit != 0).
# See qemu/provision/README.md.
set -Eeuo pipefail
umask 022

SCRIPT_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd -P)
GUEST_DIR=$REPO_DIR/qemu/guest

# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"
# shellcheck source=stage-qemu.sh
source "$SCRIPT_DIR/stage-qemu.sh"
# shellcheck source=stage-guest.sh
source "$SCRIPT_DIR/stage-guest.sh"
# shellcheck source=stage-drivers.sh
source "$SCRIPT_DIR/stage-drivers.sh"
# shellcheck source=stage-qemu-hotplug.sh
source "$SCRIPT_DIR/stage-qemu-hotplug.sh"

STEP_I=0
STEP_N=0
STAGE_NAME=provision
STAGE_LOG=""
ERR_MARK=""
CUR_TMP=""

usage() {
    cat <<EOF
usage: ${0##*/} [--cache DIR] [--drivers-dir DIR] [--force] [--prune] [--with-hotplug-qemu]

  --cache DIR        cache directory (default: \$PCIEEMU_CACHE, else
                     \${XDG_CACHE_HOME:-\$HOME/.cache}/pcieemu)
  --drivers-dir DIR  directory whose subdirectories (with a Kbuild or Makefile) are
                     out-of-tree kernel modules (default: <repo>/qemu/drivers)
  --force            rebuild every stage
  --prune            afterwards, delete the cached stages, manifests and logs that
                     this run did not use (frees the space of older recipes)
  --with-hotplug-qemu
                     also provide a QEMU whose device_del of a vfio-user-pci device
                     with MSI-X does not abort (manifest key qemu_hotplug; also
                     \$PCIEEMU_HOTPLUG_QEMU=1)
EOF
}

# EXIT trap: drop a half-built stage (unless PCIEEMU_KEEP_FAILED is set) and the error
# marker. The script's exit status stays the one it exited with.
cleanup() {
    trap - ERR
    set +e
    if [[ -n $CUR_TMP && -d $CUR_TMP && -z ${PCIEEMU_KEEP_FAILED:-} ]]; then
        rm -rf "$CUR_TMP"
    fi
    if [[ -n $ERR_MARK ]]; then rm -f "$ERR_MARK"; fi
    return 0
}

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------
CACHE=${PCIEEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pcieemu}
DRIVERS_DIR=$REPO_DIR/qemu/drivers
DRIVERS_DIR_GIVEN=0
FORCE=0
PRUNE=0
HOTPLUG=0
if [[ ${PCIEEMU_HOTPLUG_QEMU:-0} == 1 ]]; then HOTPLUG=1; fi
while (($#)); do
    case $1 in
    --cache)
        (($# >= 2)) || die "--cache needs a directory"
        CACHE=$2
        shift 2
        ;;
    --cache=*)
        CACHE=${1#*=}
        shift
        ;;
    --drivers-dir)
        (($# >= 2)) || die "--drivers-dir needs a directory"
        DRIVERS_DIR=$2
        DRIVERS_DIR_GIVEN=1
        shift 2
        ;;
    --drivers-dir=*)
        DRIVERS_DIR=${1#*=}
        DRIVERS_DIR_GIVEN=1
        shift
        ;;
    --force)
        FORCE=1
        shift
        ;;
    --prune)
        PRUNE=1
        shift
        ;;
    --with-hotplug-qemu)
        HOTPLUG=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done

[[ -n $CACHE ]] || die "empty cache directory"
mkdir -p "$CACHE" 2>/dev/null || die "cannot create the cache directory $CACHE"
CACHE=$(cd "$CACHE" && pwd -P)
if [[ -d $DRIVERS_DIR ]]; then
    DRIVERS_DIR=$(cd "$DRIVERS_DIR" && pwd -P)
elif ((DRIVERS_DIR_GIVEN)); then
    die "drivers dir $DRIVERS_DIR does not exist"
fi

ERR_MARK=$(mktemp "$CACHE/.err.XXXXXX")
trap cleanup EXIT
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
trap 'die "${STAGE_NAME:-provision}: interrupted by a signal"' INT TERM HUP

# ---------------------------------------------------------------------------
# Lock: one provisioning run per cache directory at a time.
# ---------------------------------------------------------------------------
exec 9>>"$CACHE/.lock"
if ! flock -n 9; then
    info "waiting for another provisioning run (lock $CACHE/.lock)"
    flock 9
fi
# Leftovers of runs that died (we hold the lock, so nobody is building them).
for stale in "$CACHE"/.tmp-* "$CACHE"/.trash-* "$CACHE"/.err.* "$CACHE"/manifest-*.tmp.*; do
    if [[ -e $stale && $stale != "$ERR_MARK" ]]; then rm -rf "$stale"; fi
done
mkdir -p "$CACHE/logs"

# ---------------------------------------------------------------------------
# Stage keys and plan
# ---------------------------------------------------------------------------
is_complete() { [[ -f $1/.complete ]]; }

# meta_get FILE KEY: value of KEY=... in FILE.
meta_get() {
    local line
    line=$(grep -m1 "^$2=" "$1" 2>/dev/null || true)
    printf '%s' "${line#*=}"
}

guest_files=()
for f in "$GUEST_DIR"/*; do
    if [[ -f $f ]]; then guest_files+=("$f"); fi
done
QEMU_KEY=$(hash_files "$SCRIPT_DIR/lib.sh" "$SCRIPT_DIR/stage-qemu.sh")
GUEST_KEY=$(hash_files "$SCRIPT_DIR/lib.sh" "$SCRIPT_DIR/stage-guest.sh" "${guest_files[@]}")
QEMU_STAGE=$CACHE/qemu-$QEMU_KEY
GUEST_STAGE=$CACHE/guest-$GUEST_KEY
# The hot-plug QEMU is derived from the qemu stage: its key includes the qemu key.
HOTPLUG_STAGE=""
if ((HOTPLUG)); then
    HOTPLUG_KEY=$({
        hash_files "$SCRIPT_DIR/lib.sh" "$SCRIPT_DIR/stage-qemu-hotplug.sh" "$SCRIPT_DIR/qemu-binpatch.py" \
            "$SCRIPT_DIR/patches/vfio-user-pba-teardown.patch"
        printf 'qemu=%s\n' "$QEMU_KEY"
    } | sha256sum | cut -c1-16)
    HOTPLUG_STAGE=$CACHE/qemu-hotplug-$HOTPLUG_KEY
fi

# drivers_key: needs the KABI, i.e. a complete guest stage.
drivers_key() {
    local kabi
    kabi=$(meta_get "$GUEST_STAGE/meta" kabi)
    [[ -n $kabi ]] || die "guest stage $GUEST_STAGE has no kabi in its meta file"
    {
        hash_files "$SCRIPT_DIR/lib.sh" "$SCRIPT_DIR/stage-drivers.sh"
        hash_tree "$DRIVERS_DIR"
        printf 'kabi=%s guest=%s\n' "$kabi" "$GUEST_KEY"
    } | sha256sum | cut -c1-16
}

need_qemu=1 need_guest=1 need_drivers=1 need_hotplug=$HOTPLUG
DRIVERS_STAGE=""
if ((!FORCE)); then
    is_complete "$QEMU_STAGE" && need_qemu=0
    # Cached only if made from this very qemu stage (a --force run may have rebuilt it).
    if ((HOTPLUG && !need_qemu)) && is_complete "$HOTPLUG_STAGE" &&
        [[ $(meta_get "$HOTPLUG_STAGE/meta" qemu_stage_complete) == "$(<"$QEMU_STAGE/.complete")" ]]; then
        need_hotplug=0
    fi
    if is_complete "$GUEST_STAGE"; then
        need_guest=0
        DRIVERS_STAGE=$CACHE/drivers-$(drivers_key)
        is_complete "$DRIVERS_STAGE" && need_drivers=0
    fi
fi
STEP_N=$((1 + (need_qemu ? QEMU_STAGE_STEPS : 1) + (need_guest ? GUEST_STAGE_STEPS : 1) +
    (need_drivers ? DRIVERS_STAGE_STEPS : 1) + 1 +
    (HOTPLUG ? (need_hotplug ? QEMU_HOTPLUG_STAGE_STEPS : 1) : 0)))

step "prepare: cache $CACHE"
info "drivers dir: $DRIVERS_DIR"

# check_tools TOOL...: fail early, naming what is missing on the host.
check_tools() {
    local t missing=()
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    ((${#missing[@]} == 0)) || die "missing host tools: ${missing[*]}"
}
if ((need_qemu || need_guest)); then
    check_tools apt-get apt-cache dpkg-deb sha256sum flock
    [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
        die "missing /usr/share/keyrings/debian-archive-keyring.gpg (Debian package debian-archive-keyring)"
    [[ $(uname -m) == x86_64 ]] || die "the host must be x86_64 (is $(uname -m))"
fi
if ((need_guest)); then check_tools xz readelf od grep tail install; fi
if ((need_hotplug)); then check_tools python3 objdump; fi

# build_stage NAME KEY_DIR FUNC ARGS...: build a stage in a temp dir, mark it complete,
# and rename it into place (replacing an old copy under --force).
build_stage() {
    local name=$1 final=$2 fn=$3
    shift 3
    local base=${final##*/}
    local tmp=$CACHE/.tmp-$base.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    CUR_TMP=$tmp
    STAGE_NAME=$name
    STAGE_LOG=$CACHE/logs/$base.log
    : >"$STAGE_LOG"
    local t0=$SECONDS
    "$fn" "$tmp" "$@"
    date -u +%FT%TZ >"$tmp/.complete"
    if [[ -e $final ]]; then
        mv "$final" "$CACHE/.trash-$base.$$"
    fi
    mv "$tmp" "$final"
    CUR_TMP=""
    rm -rf "$CACHE/.trash-$base.$$"
    info "$name: built in $((SECONDS - t0)) s -> $final"
    STAGE_NAME=provision
    STAGE_LOG=""
}

# ---------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------
if ((need_qemu)); then
    build_stage qemu "$QEMU_STAGE" stage_qemu_build
else
    step "qemu: cached ($QEMU_STAGE)"
fi

if ((need_hotplug)); then
    build_stage qemu-hotplug "$HOTPLUG_STAGE" stage_qemu_hotplug_build "$QEMU_STAGE" "$SCRIPT_DIR/qemu-binpatch.py"
elif ((HOTPLUG)); then
    step "qemu-hotplug: cached ($HOTPLUG_STAGE)"
fi

if ((need_guest)); then
    build_stage guest "$GUEST_STAGE" stage_guest_build "$GUEST_DIR"
else
    step "guest: cached ($GUEST_STAGE)"
fi

GUEST_KABI=$(meta_get "$GUEST_STAGE/meta" kabi)
GUEST_KDIR_REL=$(meta_get "$GUEST_STAGE/meta" kdir_rel)
[[ -n $GUEST_KABI && -n $GUEST_KDIR_REL ]] || die "guest stage $GUEST_STAGE has an incomplete meta file"

if [[ -z $DRIVERS_STAGE ]]; then
    # The guest stage was (re)built just now, so the drivers key is known only now.
    DRIVERS_STAGE=$CACHE/drivers-$(drivers_key)
    if ((!FORCE)) && is_complete "$DRIVERS_STAGE"; then
        need_drivers=0
        # Planned as a build: keep the announced step count.
        step "drivers: cached ($DRIVERS_STAGE)"
        step "drivers: nothing to build"
    fi
elif ((!need_drivers)); then
    step "drivers: cached ($DRIVERS_STAGE)"
fi
if ((need_drivers)); then
    build_stage drivers "$DRIVERS_STAGE" stage_drivers_build "$DRIVERS_DIR" "$GUEST_STAGE"
fi

# ---------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------
step "manifest"
# (Without --with-hotplug-qemu the key, and so the manifest, is the same as before that option.)
MANIFEST_KEY=$(printf '%s\n' "$QEMU_STAGE" "$GUEST_STAGE" "$DRIVERS_STAGE" ${HOTPLUG_STAGE:+"$HOTPLUG_STAGE"} |
    sha256sum | cut -c1-16)
MANIFEST=$CACHE/manifest-$MANIFEST_KEY
{
    printf 'qemu=%s\n' "$QEMU_STAGE/qemu"
    printf 'qemu_version=%s\n' "$(meta_get "$QEMU_STAGE/meta" qemu_version)"
    printf 'qemu_package=%s\n' "$(meta_get "$QEMU_STAGE/meta" qemu_package)"
    printf 'qemu_sysroot=%s\n' "$QEMU_STAGE/sysroot"
    printf 'kernel=%s\n' "$GUEST_STAGE/vmlinux"
    printf 'initrd=%s\n' "$DRIVERS_STAGE/initrd"
    printf 'initrd_base=%s\n' "$GUEST_STAGE/initrd-base.cpio"
    printf 'kabi=%s\n' "$GUEST_KABI"
    printf 'kernel_package=%s\n' "$(meta_get "$GUEST_STAGE/meta" kernel_package)"
    printf 'kernel_config=%s\n' "$GUEST_STAGE/config"
    printf 'kdir=%s\n' "$GUEST_STAGE/$GUEST_KDIR_REL"
    printf 'guest_modules=%s\n' "$(meta_get "$GUEST_STAGE/meta" modules)"
    printf 'drivers=%s\n' "$(meta_get "$DRIVERS_STAGE/meta" drivers)"
    printf 'drivers_dir=%s\n' "$DRIVERS_STAGE/ko"
    printf 'drivers_src=%s\n' "$DRIVERS_DIR"
    printf 'agent_port=pcieemu.agent\n'
    printf 'share_mount=/mnt/host\n'
    printf 'share_tag=host\n'
    printf 'cache=%s\n' "$CACHE"
    if [[ -n $HOTPLUG_STAGE ]]; then
        printf 'qemu_hotplug=%s\n' "$HOTPLUG_STAGE/qemu"
        printf 'qemu_hotplug_patch=%s\n' "$(meta_get "$HOTPLUG_STAGE/meta" patch_status)"
    fi
} >"$MANIFEST.tmp.$$"
mv "$MANIFEST.tmp.$$" "$MANIFEST"

if ((PRUNE)); then
    pruned=0
    for old in "$CACHE"/qemu-* "$CACHE"/guest-* "$CACHE"/drivers-* "$CACHE"/manifest-* "$CACHE"/logs/*.log; do
        [[ -e $old ]] || continue
        case $old in
        "$QEMU_STAGE" | "$GUEST_STAGE" | "$DRIVERS_STAGE" | "$MANIFEST") continue ;;
        "$CACHE/logs/${QEMU_STAGE##*/}.log" | "$CACHE/logs/${GUEST_STAGE##*/}.log" | "$CACHE/logs/${DRIVERS_STAGE##*/}.log") continue ;;
        "${HOTPLUG_STAGE:-/nonexistent}" | "$CACHE/logs/${HOTPLUG_STAGE##*/}.log") continue ;;
        esac
        rm -rf "$old"
        pruned=$((pruned + 1))
    done
    info "pruned $pruned old cache entries"
fi
printf '@@MANIFEST %s\n' "$MANIFEST"
