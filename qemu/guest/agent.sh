#!/bin/sh
# PcieEmu guest command agent (busybox sh), installed as /bin/pcieemu-agent.
#
# Talks over the virtio-serial port named "pcieemu.agent" (QEMU: -device
# virtserialport,name=pcieemu.agent; the host listens on the chardev's UNIX socket).
#
# Protocol, one line each way, "\n"-terminated:
#   guest → host  @@READY <uptime> <comma-separated pcieemu drivers loaded, or ->
#   host → guest  <id> <base64 of a shell script>
#   guest → host  @@RESULT <id> <exit code> <base64 of stdout+stderr, one line; - if empty>
#   host → guest  quit [anything]      → the agent exits 0 (then the guest powers off)
# The script runs with sh, stdin </dev/null, cwd $PCIEEMU_CWD (/mnt/host with the 9p
# share, else /root). Exit codes: 0 after "quit", 3 on EOF from the host, 2 if the port
# never appeared.

PORT_NAME=${PCIEEMU_AGENT_PORT:-pcieemu.agent}
CWD=${PCIEEMU_CWD:-/root}
DRIVERS=${PCIEEMU_DRIVERS:--}
WORK=/run/pcieemu-agent

uptime_s() {
    read -r up _ </proc/uptime
    echo "$up"
}

# find_port: prints /dev/vportNpM of the port named $PORT_NAME; waits up to ~10 s for
# the port to be announced by the host side.
find_port() {
    i=0
    while [ "$i" -lt 200 ]; do
        for n in /sys/class/virtio-ports/*/name; do
            [ -r "$n" ] || continue
            if [ "$(cat "$n" 2>/dev/null)" = "$PORT_NAME" ]; then
                d=${n%/name}
                dev=/dev/${d##*/}
                if [ -c "$dev" ]; then
                    echo "$dev"
                    return 0
                fi
            fi
        done
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

if ! port=$(find_port); then
    msg="pcieemu-agent: no virtio-serial port named $PORT_NAME (needs virtio_pci, virtio_console and -device virtserialport,name=$PORT_NAME)"
    if [ "${PCIEEMU_MODE:-runner}" = runner ]; then
        echo "@@ERROR $msg"
    else
        echo "$msg; the agent is not running"
    fi
    exit 2
fi

mkdir -p "$WORK"
exec 3<>"$port"
# Every command starts here; a "cd" inside a script only affects that script.
cd "$CWD" 2>/dev/null || cd /
CR=$(printf '\r')

ready="@@READY $(uptime_s) $DRIVERS"
printf '%s\n' "$ready" >&3
echo "$ready"

# send_result ID RC FILE
send_result() {
    if [ -s "$3" ]; then
        {
            printf '@@RESULT %s %s ' "$1" "$2"
            base64 -w 0 <"$3"
            printf '\n'
        } >&3
    else
        printf '@@RESULT %s %s -\n' "$1" "$2" >&3
    fi
}

# The loop forks as little as possible (a fork+exec costs milliseconds under TCG):
# one base64 -d, one sh, and one base64 when there is output.
while IFS= read -r line <&3; do
    line=${line%"$CR"}
    id=${line%% *}
    b64=${line#* }
    [ "$b64" = "$line" ] && b64=""
    case $id in
    "") continue ;;
    quit) exit 0 ;;
    esac
    if ! base64 -d >"$WORK/script" 2>"$WORK/out" <<EOF
$b64
EOF
    then
        echo "pcieemu-agent: command $id: invalid base64" >>"$WORK/out"
        send_result "$id" 255 "$WORK/out"
        continue
    fi
    sh "$WORK/script" </dev/null >"$WORK/out" 2>&1 3>&-
    send_result "$id" "$?" "$WORK/out"
done
exit 3
