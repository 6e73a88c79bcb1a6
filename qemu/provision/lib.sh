# shellcheck shell=bash
# Helpers shared by provision.sh and the stage scripts. Sourced, never executed.
#
# Globals used here (set by provision.sh):
#   STEP_I, STEP_N   progress counter for "@@STEP i/n"
#   STAGE_NAME       short name of the stage being built ("qemu", "guest", "drivers")
#   STAGE_LOG        per-stage log file; noisy tool output goes there, never to stdout
#   ERR_MARK         file that records that an @@ERROR line was already printed

# ---------------------------------------------------------------------------
# Output protocol
# ---------------------------------------------------------------------------

# step TEXT: one "@@STEP i/n TEXT" line on stdout.
# shellcheck disable=SC2153  # STEP_N is set by provision.sh
step() {
    STEP_I=$((STEP_I + 1))
    printf '@@STEP %d/%d %s\n' "$STEP_I" "$STEP_N" "$*"
    if [[ -n ${STAGE_LOG:-} ]]; then
        printf '=== %s: %s\n' "$(date +%T)" "$*" >>"$STAGE_LOG"
    fi
}

# info TEXT: a free-form progress line on stdout (and in the stage log).
info() {
    printf '%s\n' "$*"
    if [[ -n ${STAGE_LOG:-} ]]; then
        printf '%s\n' "$*" >>"$STAGE_LOG"
    fi
}

# die MESSAGE: print "@@ERROR MESSAGE" (one line) and exit 1. Safe in subshells: the
# ERR trap of the parent sees ERR_MARK and does not print a second @@ERROR line.
die() {
    local msg="$*"
    msg=${msg//$'\r'/ }
    msg=${msg//$'\n'/ }
    if [[ -n ${ERR_MARK:-} && ! -s $ERR_MARK ]]; then
        printf '%s\n' "$msg" >"$ERR_MARK" 2>/dev/null || true
        printf '@@ERROR %s\n' "$msg"
    elif [[ -z ${ERR_MARK:-} ]]; then
        printf '@@ERROR %s\n' "$msg"
    fi
    exit 1
}

# ERR trap: an unexpected command failure becomes one @@ERROR line naming the stage,
# the command and the log.
on_err() {
    local rc=$1 line=$2 cmd=$3
    if [[ -n ${ERR_MARK:-} && -s $ERR_MARK ]]; then
        exit "$rc"
    fi
    if [[ $BASHPID != "$$" ]]; then
        # Inside a subshell: let the parent report (it fails on our exit status).
        exit "$rc"
    fi
    local where=${STAGE_NAME:-provision}
    local logmsg=""
    [[ -n ${STAGE_LOG:-} ]] && logmsg="; log: $STAGE_LOG"
    die "$where: command failed (exit $rc, ${BASH_SOURCE[1]##*/}:$line): $cmd$logmsg"
}

# run CMD...: run a noisy command with all its output in the stage log.
run() {
    printf '+ %s\n' "$*" >>"$STAGE_LOG"
    "$@" >>"$STAGE_LOG" 2>&1
}

# ---------------------------------------------------------------------------
# Hashing (stage keys)
# ---------------------------------------------------------------------------

# hash_files FILE...: short content hash of the given files (names and contents).
hash_files() {
    local f
    for f in "$@"; do
        printf '%s\0' "${f##*/}"
        sha256sum <"$f"
    done | sha256sum | cut -c1-16
}

# Kernel build products that must neither key nor enter a driver build (same list as
# the repository's .gitignore for qemu/drivers).
DRIVER_JUNK_FIND=(
    -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd'
    -o -name 'Module.symvers' -o -name 'modules.order' -o -name '*.mod.o' -o -name '.tmp_versions'
)

# hash_tree DIR: short hash of every file below DIR (relative paths and contents; not modes:
# the stages set every mode they need, and a NuGet-installed copy unpacks files 0744 where a
# checkout has 0644, which must not make the installed tool rebuild what the checkout built),
# ignoring kernel build products. Empty or missing DIR hashes to a constant.
hash_tree() {
    local dir=$1
    if [[ ! -d $dir ]]; then
        printf 'missing\n' | sha256sum | cut -c1-16
        return
    fi
    (
        cd "$dir" || exit 1
        find . \( "${DRIVER_JUNK_FIND[@]}" \) -prune -o \( -type f -o -type l \) -print0 |
            LC_ALL=C sort -z |
            while IFS= read -r -d '' f; do
                if [[ -L $f ]]; then
                    printf 'L %s -> %s\0' "$f" "$(readlink "$f")"
                else
                    printf 'F %s\0' "$f"
                    sha256sum <"$f"
                fi
            done
    ) | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------------------
# Private apt state (never touches the host's dpkg/apt state)
# ---------------------------------------------------------------------------

# debian_mirror KIND: the Debian mirror URI the host's own sources use.
#   KIND=main     → the archive (deb.debian.org/debian or the host's mirror)
#   KIND=security → the security archive
# Overridable with PCIEEMU_DEBIAN_MIRROR / PCIEEMU_DEBIAN_SECURITY_MIRROR.
debian_mirror() {
    local kind=$1 uri=""
    if [[ $kind == main && -n ${PCIEEMU_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "$PCIEEMU_DEBIAN_MIRROR"
        return
    fi
    if [[ $kind == security && -n ${PCIEEMU_DEBIAN_SECURITY_MIRROR:-} ]]; then
        printf '%s\n' "$PCIEEMU_DEBIAN_SECURITY_MIRROR"
        return
    fi
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    if ((${#files[@]})); then
        uri=$(awk -v kind="$kind" '
            function want(suite) {
                if (kind == "security") return suite ~ /^[a-z]+(-security|\/updates)$/
                return suite ~ /^(bullseye|bookworm|trixie|forky|sid|unstable|stable|testing|oldstable)(-updates|-backports)?$/
            }
            function flush(   n, s, i) {
                if (uris != "" && enabled && found == "") {
                    n = split(suites, s, /[ \t]+/)
                    for (i = 1; i <= n; i++) if (want(s[i])) { split(uris, u, /[ \t]+/); found = u[1]; break }
                }
                uris = ""; suites = ""; enabled = 1
            }
            BEGIN { enabled = 1; found = "" }
            FNR == 1 { flush() }
            FILENAME ~ /\.sources$/ {
                if ($0 ~ /^[ \t]*#/) next
                if ($0 ~ /^[ \t]*$/) { flush(); next }
                if (tolower($1) == "uris:") { $1 = ""; uris = $0; sub(/^[ \t]+/, "", uris) }
                else if (tolower($1) == "suites:") { $1 = ""; suites = $0; sub(/^[ \t]+/, "", suites) }
                else if (tolower($1) == "enabled:") { enabled = (tolower($2) != "no") }
                next
            }
            {
                flush()
                if ($1 != "deb") next
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if (i + 1 <= NF && want($(i + 1)) && found == "") found = $i
            }
            END { flush(); print found }
        ' "${files[@]}" 2>/dev/null || true)
    fi
    if [[ -z $uri ]]; then
        if [[ $kind == security ]]; then uri=http://deb.debian.org/debian-security; else uri=http://deb.debian.org/debian; fi
    fi
    printf '%s\n' "${uri%/}"
}

# apt_private DIR: create a private apt configuration in DIR. Sources are added with
# apt_source. All apt calls go through apt_run, which points APT_CONFIG at it, so the
# host's apt.conf.d, sources, lists, cache and dpkg status are never read or written.
apt_private() {
    local A=$1
    mkdir -p "$A"/{apt.conf.d,sources.list.d,preferences.d,state/lists/partial,cache/archives/partial,log}
    : >"$A/state/status"
    {
        printf 'Dir::Etc::main "/dev/null";\n'
        printf 'Dir::Etc::Parts "%s/apt.conf.d";\n' "$A"
        printf 'Dir::Etc::SourceList "/dev/null";\n'
        printf 'Dir::Etc::SourceParts "%s/sources.list.d";\n' "$A"
        printf 'Dir::Etc::Preferences "/dev/null";\n'
        printf 'Dir::Etc::PreferencesParts "%s/preferences.d";\n' "$A"
        printf 'Dir::State "%s/state";\n' "$A"
        printf 'Dir::State::Lists "%s/state/lists";\n' "$A"
        printf 'Dir::State::status "%s/state/status";\n' "$A"
        printf 'Dir::State::extended_states "%s/state/extended_states";\n' "$A"
        printf 'Dir::Cache "%s/cache";\n' "$A"
        printf 'Dir::Cache::archives "%s/cache/archives";\n' "$A"
        printf 'Dir::Log "%s/log";\n' "$A"
        printf 'Debug::NoLocking "true";\n'
        printf 'APT::Install-Recommends "false";\n'
        printf 'APT::Install-Suggests "false";\n'
        printf 'APT::Get::Assume-Yes "true";\n'
        printf 'Acquire::Languages "none";\n'
        printf 'Acquire::Retries "3";\n'
        printf 'Acquire::http::Timeout "30";\n'
        # Keep the sandbox user unchanged: _apt cannot enter a cache below /root.
        if [[ $EUID -eq 0 ]]; then printf 'APT::Sandbox::User "root";\n'; fi
    } >"$A/apt.conf"
}

# apt_source DIR NAME URI SUITES...: add a deb822 source (component main).
apt_source() {
    local A=$1 name=$2 uri=$3
    shift 3
    {
        printf 'Types: deb\n'
        printf 'URIs: %s\n' "$uri"
        printf 'Suites: %s\n' "$*"
        printf 'Components: main\n'
        printf 'Architectures: amd64\n'
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    } >"$A/sources.list.d/$name.sources"
}

# apt_run DIR CMD ARGS...: run apt-get/apt-cache with the private config of DIR.
apt_run() {
    local A=$1
    shift
    APT_CONFIG="$A/apt.conf" LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}

# apt_update DIR WHAT: apt-get update into the private lists; dies naming the suites.
apt_update() {
    local A=$1 what=$2
    if ! apt_run "$A" apt-get update >>"$STAGE_LOG" 2>&1; then
        die "$STAGE_NAME: apt-get update failed for $what; log: $STAGE_LOG"
    fi
    # apt-get update exits 0 on some fetch errors; treat "W:/E: Failed to fetch" as fatal.
    if grep -qE '^(E|W): (Failed to fetch|Some index files failed)' < <(tail -n 40 "$STAGE_LOG"); then
        die "$STAGE_NAME: could not fetch package indexes for $what; log: $STAGE_LOG"
    fi
}

# apt_suite_of DIR PKG[=VER]: the archive suite(s) that offer PKG (VER or candidate).
apt_suite_of() {
    local A=$1 spec=$2 pkg ver
    pkg=${spec%%=*}
    ver=""
    [[ $spec == *=* ]] && ver=${spec#*=}
    apt_run "$A" apt-cache policy "$pkg" 2>/dev/null | awk -v ver="$ver" '
        /^  Candidate:/ { if (ver == "") ver = $2 }
        $1 == "***" { cur = $2; next }
        NF == 2 && $2 ~ /^-?[0-9]+$/ && $1 !~ /:$/ { cur = $1; next }
        $1 ~ /^-?[0-9]+$/ && $2 ~ /:\/\// { if (cur == ver) { s = $3; sub(/\/.*/, "", s); out = out (out ? "," : "") s } }
        END { print out }'
}

# apt_fetch_fail DIR SUITES LOGSTART PKGSPEC...: after a failed download, name the
# package that could not be fetched (and its suite) in one @@ERROR line.
apt_fetch_fail() {
    local A=$1 suites=$2 logstart=$3
    shift 3
    local spec pkg ver bad="" why=""
    # 1. A requested package (or version) the indexes do not have at all.
    for spec in "$@"; do
        pkg=${spec%%=*}
        ver=""
        [[ $spec == *=* ]] && ver=${spec#*=}
        if [[ -n $ver ]]; then
            apt_run "$A" apt-cache show "$pkg=$ver" >/dev/null 2>&1 || { bad=$spec; why="not in the package index"; break; }
        else
            apt_run "$A" apt-cache show "$pkg" >/dev/null 2>&1 || { bad=$spec; why="not in the package index"; break; }
        fi
    done
    # 2. Otherwise the apt error lines name it (a dependency, a 404, a hash mismatch).
    if [[ -z $bad ]]; then
        local line
        line=$(tail -n +"$logstart" "$STAGE_LOG" | grep -m1 -E '^E: |Depends: |Unable to locate' || true)
        if [[ $line =~ Failed\ to\ fetch\ [^\ ]*/([^/_\ ]+)_([^_\ ]+)_[^/\ ]*\.deb ]]; then
            bad="${BASH_REMATCH[1]}=${BASH_REMATCH[2]//%3a/:}"
            why=${line##*.deb}
            why=${why%%\[IP:*}
            why=$(printf '%s' "$why" | tr -s ' ')
            why="download failed:${why% }"
        elif [[ $line =~ Unable\ to\ locate\ package\ ([^\ ]+) ]]; then
            bad=${BASH_REMATCH[1]}
            why="not in the package index"
        elif [[ $line =~ ^\ *([^\ ]+)\ :\ Depends:\ ([^\ ]+) ]]; then
            bad=${BASH_REMATCH[2]}
            why="unsatisfiable dependency of ${BASH_REMATCH[1]}"
        else
            bad="$*"
            why=${line:-"apt-get failed"}
        fi
    fi
    local in
    in=$(apt_suite_of "$A" "$bad")
    [[ -n $in ]] && in=" (offered by $in)"
    die "$STAGE_NAME: cannot fetch package $bad from $suites$in: $why; log: $STAGE_LOG"
}

# apt_download DIR SUITES MODE PKGSPEC...: download .deb files into DIR/cache/archives.
#   MODE=closure → apt-get install --download-only (the whole dependency closure,
#                  since the private dpkg status is empty)
#   MODE=exact   → apt-get download (exactly the listed packages)
apt_download() {
    local A=$1 suites=$2 mode=$3
    shift 3
    local logstart
    logstart=$(($(wc -l <"$STAGE_LOG") + 1))
    local ok=0
    if [[ $mode == closure ]]; then
        apt_run "$A" apt-get install --download-only "$@" >>"$STAGE_LOG" 2>&1 || ok=$?
    else
        # apt-get download writes into the current directory.
        (cd "$A/cache/archives" && apt_run "$A" apt-get download "$@") >>"$STAGE_LOG" 2>&1 || ok=$?
    fi
    if ((ok != 0)); then
        # Strip "-t RELEASE" before diagnosing.
        local specs=() skip=0 a
        for a in "$@"; do
            if ((skip)); then skip=0; continue; fi
            case $a in -t) skip=1 ;; -*) ;; *) specs+=("$a") ;; esac
        done
        apt_fetch_fail "$A" "$suites" "$logstart" "${specs[@]}"
    fi
}

# extract_debs ROOT DEB...: dpkg-deb -x each .deb into ROOT.
extract_debs() {
    local root=$1 d
    shift
    mkdir -p "$root"
    for d in "$@"; do
        dpkg-deb -x "$d" "$root" >>"$STAGE_LOG" 2>&1 || die "$STAGE_NAME: cannot extract ${d##*/}; log: $STAGE_LOG"
    done
}

# human BYTES → "12.3 MB"
human() {
    awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b / 1048576; else printf "%.0f KB", b / 1024 }'
}

# du_bytes PATH...: apparent size in bytes.
du_bytes() {
    du -scb "$@" 2>/dev/null | tail -n1 | cut -f1
}
