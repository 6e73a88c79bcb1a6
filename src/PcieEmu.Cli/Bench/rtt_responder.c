/*
 * rtt_responder: the floor that `pcieemu bench rtt --compare` measures our server against.
 *
 * A vfio-user "server" with no library and no device: it accepts one connection at a time on a UNIX
 * socket and answers each request with the reply PcieEmu's server sends (same sizes, same echoed
 * fields), using the fewest syscalls a stream server can: one recv() that normally returns the whole
 * 32-byte REGION_READ request, and one send() of the reply. Pipelined requests that arrive together are
 * answered from the same buffer without another recv().
 *
 * It answers just enough for the benchmark client's setup (VERSION, DEVICE_GET_INFO,
 * DEVICE_GET_REGION_INFO, DEVICE_GET_IRQ_INFO) and the region accesses it times. It never receives
 * fds (plain recv: the kernel closes any that arrive). Anything else gets ENOSYS.
 *
 * Usage: rtt_responder SOCKET [BAR_SIZE [VALUE]]
 *   BAR_SIZE  size of BAR0..BAR5 in bytes (default 0x4000); config space is 4096 bytes.
 *   VALUE     32-bit value repeated over REGION_READ data (default 0; `bench rtt --compare` passes what
 *             our server returned, so both replies carry the same bytes).
 *
 * Build: gcc -O2 -o rtt_responder rtt_responder.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HDR 16
#define MAX_XFER (1u << 20)
#define BUF_SIZE (MAX_XFER + 64)

enum {
    CMD_VERSION = 1, CMD_DMA_MAP = 2, CMD_DMA_UNMAP = 3, CMD_GET_INFO = 4, CMD_GET_REGION_INFO = 5,
    CMD_GET_IRQ_INFO = 7, CMD_SET_IRQS = 8, CMD_REGION_READ = 9, CMD_REGION_WRITE = 10, CMD_RESET = 13,
};

enum { F_REPLY = 0x1, F_NO_REPLY = 0x10, F_ERROR = 0x20 };

/* What our server advertises (see VersionNegotiation.Handle). */
static const char version_json[] =
    "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"pgsizes\":4096,\"max_dma_maps\":16384}}";

static uint8_t in[BUF_SIZE];
static uint8_t out[BUF_SIZE];
static uint64_t bar_size = 0x4000;
static uint32_t fill_value;

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t region_size(uint32_t index)
{
    if (index <= 5)
        return bar_size;
    return index == 7 ? 4096 : 0;
}

/* Builds the reply to one request in `out`; returns its length, 0 for none (NO_REPLY). */
static size_t answer(const uint8_t *m, uint32_t size)
{
    uint16_t cmd = rd16(m + 2);
    uint32_t flags = rd32(m + 8);
    const uint8_t *p = m + HDR;
    uint32_t plen = size - HDR;
    uint32_t err = 0;
    size_t len = HDR;

    switch (cmd) {
    case CMD_VERSION:
        if (plen < 4) { err = EINVAL; break; }
        wr16(out + HDR, 0);
        wr16(out + HDR + 2, 0);
        memcpy(out + HDR + 4, version_json, sizeof version_json); /* with its NUL */
        len = HDR + 4 + sizeof version_json;
        break;
    case CMD_GET_INFO:
        if (plen < 16) { err = EINVAL; break; }
        wr32(out + HDR, 16);
        wr32(out + HDR + 4, 0x3);  /* RESET | PCI */
        wr32(out + HDR + 8, 9);
        wr32(out + HDR + 12, 5);
        len = HDR + 16;
        break;
    case CMD_GET_REGION_INFO: {
        if (plen < 32 || rd32(p) < 32 || rd32(p + 8) >= 9) { err = EINVAL; break; }
        uint32_t index = rd32(p + 8);
        uint64_t rsize = region_size(index);
        wr32(out + HDR, 32);
        wr32(out + HDR + 4, rsize ? 0x3 : 0); /* READ | WRITE */
        wr32(out + HDR + 8, index);
        wr32(out + HDR + 12, 0);
        wr64(out + HDR + 16, rsize);
        wr64(out + HDR + 24, 0);
        len = HDR + 32;
        break;
    }
    case CMD_GET_IRQ_INFO:
        if (plen < 16) { err = EINVAL; break; }
        memcpy(out + HDR, p, 16);
        wr32(out + HDR + 4, 0x1); /* EVENTFD */
        wr32(out + HDR + 12, 1);
        len = HDR + 16;
        break;
    case CMD_REGION_READ: {
        if (plen != 16) { err = EINVAL; break; }
        uint64_t offset = rd64(p);
        uint32_t region = rd32(p + 8), count = rd32(p + 12);
        uint64_t rsize = region < 9 ? region_size(region) : 0;
        if (count == 0 || count > MAX_XFER || offset > rsize || count > rsize - offset) { err = EINVAL; break; }
        memcpy(out + HDR, p, 16);
        for (uint32_t i = 0; i < count; i++)
            out[HDR + 16 + i] = (uint8_t)(fill_value >> (8 * ((offset + i) & 3)));
        len = HDR + 16 + count;
        break;
    }
    case CMD_REGION_WRITE: {
        if (plen < 16 || plen != 16 + (uint64_t)rd32(p + 12)) { err = EINVAL; break; }
        memcpy(out + HDR, p, 16);
        len = HDR + 16;
        break;
    }
    case CMD_DMA_UNMAP:
        if (plen != 24) { err = EINVAL; break; }
        memcpy(out + HDR, p, 24);
        len = HDR + 24;
        break;
    case CMD_DMA_MAP:
    case CMD_SET_IRQS:
    case CMD_RESET:
        break;
    default:
        err = ENOSYS;
        break;
    }

    if (flags & F_NO_REPLY)
        return 0;
    if (err)
        len = HDR;
    memcpy(out, m, 4); /* id and command */
    wr32(out + 4, (uint32_t)len);
    wr32(out + 8, err ? F_REPLY | F_ERROR : F_REPLY);
    wr32(out + 12, err);
    return len;
}

static int send_all(int fd, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serves one client until it leaves. */
static void serve(int fd)
{
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, in + have, sizeof in - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        have += (size_t)n;

        size_t at = 0;
        while (have - at >= HDR) {
            uint32_t size = rd32(in + at + 4);
            if (size < HDR || size > sizeof in)
                return; /* our server answers E2BIG/closes; the floor need not */
            if (have - at < size)
                break;
            size_t len = answer(in + at, size);
            if (len > 0 && send_all(fd, out, len) < 0)
                return;
            at += size;
        }

        if (at > 0) {
            memmove(in, in + at, have - at);
            have -= at;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s SOCKET [BAR_SIZE [VALUE]]\n", argv[0]);
        return 2;
    }

    if (argc > 2)
        bar_size = strtoull(argv[2], NULL, 0);
    if (argc > 3)
        fill_value = (uint32_t)strtoul(argv[3], NULL, 0);

    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "rtt_responder: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);

    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(argv[1]);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4) < 0) {
        perror("rtt_responder: listen");
        return 1;
    }

    printf("rtt_responder: listening on %s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("rtt_responder: accept");
            return 1;
        }
        serve(fd);
        close(fd);
    }
}
