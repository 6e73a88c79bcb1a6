/*
 * rtt_client: the C benchmark client `pcieemu bench rtt --compare --client c` drives, as in the notes' latency
 * baseline (qemu-vfio-user-client.md §14): no runtime of its own between the two servers being compared.
 *
 * Usage: rtt_client SOCKET REGION OFFSET
 * It connects, sends VERSION with QEMU's JSON, DEVICE_GET_INFO and DEVICE_GET_REGION_INFO (argsz 32), checks the
 * region can serve a 4-byte read at OFFSET, prints "ready VALUE SIZE" (the 32-bit value read there, the region size)
 * and then obeys lines on stdin:
 *   "warm N"      N untimed reads; prints "warm".
 *   "time N"      N timed 4-byte REGION_READs (one in flight), each checked (id, command, flags, size); prints
 *                 "result MEAN_US P50_US P99_US MAX_US PER_SECOND".
 *   anything else, or EOF: exits.
 * Build: gcc -O2 -o rtt_client rtt_client.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char qemu_json[] =
    "{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, \"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
    "\"migration\": {\"max_bitmap_size\": 268435456, \"pgsize\": 4096}, \"write_multiple\": true}}";

static int sock;
static uint16_t next_id;
static uint8_t reply[4096];

static void die(const char *what)
{
    fprintf(stderr, "rtt_client: %s\n", what);
    exit(1);
}

static void header(uint8_t *m, uint16_t id, uint16_t cmd, uint32_t size)
{
    memset(m, 0, 16);
    memcpy(m, &id, 2);
    memcpy(m + 2, &cmd, 2);
    memcpy(m + 4, &size, 4);
}

static void send_all(const uint8_t *m, size_t n)
{
    while (n > 0) {
        ssize_t w = send(sock, m, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send failed");
        m += w;
        n -= (size_t)w;
    }
}

/* Reads one whole reply into `reply` and checks id, command and the REPLY flag; returns its size. */
static uint32_t receive(uint16_t id, uint16_t cmd)
{
    size_t have = 0;
    uint32_t size = 16;
    while (have < size) {
        ssize_t r = recv(sock, reply + have, sizeof reply - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("connection closed");
        have += (size_t)r;
        if (have >= 16) {
            memcpy(&size, reply + 4, 4);
            if (size < 16 || size > sizeof reply)
                die("bad reply size");
        }
    }
    uint16_t rid, rcmd;
    uint32_t flags;
    memcpy(&rid, reply, 2);
    memcpy(&rcmd, reply + 2, 2);
    memcpy(&flags, reply + 8, 4);
    if (rid != id || rcmd != cmd || flags != 1)
        die("unexpected reply");
    return size;
}

static uint32_t call(uint8_t *m, uint32_t size, uint16_t cmd)
{
    uint16_t id = next_id++;
    header(m, id, cmd, size);
    send_all(m, size);
    return receive(id, cmd);
}

static uint32_t region_read(uint8_t *m, uint32_t region, uint64_t offset)
{
    uint32_t count = 4;
    memcpy(m + 16, &offset, 8);
    memcpy(m + 24, &region, 4);
    memcpy(m + 28, &count, 4);
    if (call(m, 32, 9) != 36)
        die("REGION_READ reply is not 36 bytes");
    uint32_t value;
    memcpy(&value, reply + 32, 4);
    return value;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET REGION OFFSET\n", argv[0]);
        return 2;
    }

    uint32_t region = (uint32_t)strtoul(argv[2], NULL, 0);
    uint64_t offset = strtoull(argv[3], NULL, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path)
        die("socket path too long");
    strcpy(addr.sun_path, argv[1]);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("cannot connect");

    uint8_t m[512];
    memset(m, 0, sizeof m);
    uint32_t vsize = 16 + 4 + sizeof qemu_json; /* major, minor, JSON and its NUL */
    memcpy(m + 20, qemu_json, sizeof qemu_json);
    call(m, vsize, 1);

    memset(m, 0, sizeof m);
    uint32_t argsz = 16;
    memcpy(m + 16, &argsz, 4);
    if (call(m, 32, 4) != 32)
        die("DEVICE_GET_INFO reply is not 32 bytes");

    memset(m, 0, sizeof m);
    argsz = 32;
    memcpy(m + 16, &argsz, 4);
    memcpy(m + 24, &region, 4);
    call(m, 48, 5);
    uint32_t rflags;
    uint64_t rsize;
    memcpy(&rflags, reply + 20, 4);
    memcpy(&rsize, reply + 32, 8);
    if (!(rflags & 1) || rsize < offset + 4)
        die("the region cannot serve a 4-byte read at that offset");

    printf("ready %u %llu\n", region_read(m, region, offset), (unsigned long long)rsize);
    fflush(stdout);

    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        long count;
        if (sscanf(line, "warm %ld", &count) == 1) {
            for (long i = 0; i < count; i++)
                region_read(m, region, offset);
            printf("warm\n");
            fflush(stdout);
            continue;
        }
        if (sscanf(line, "time %ld", &count) != 1 || count < 1)
            break;
        double *t = malloc(sizeof(double) * (size_t)count);
        if (!t)
            die("out of memory");
        double start = now_ns();
        for (long i = 0; i < count; i++) {
            double t0 = now_ns();
            region_read(m, region, offset);
            t[i] = now_ns() - t0;
        }
        double seconds = (now_ns() - start) / 1e9;
        qsort(t, (size_t)count, sizeof(double), by_value);
        double sum = 0;
        for (long i = 0; i < count; i++)
            sum += t[i];
        long p99 = (long)(count * 0.99);
        if (p99 > count - 1)
            p99 = count - 1;
        printf("result %.4f %.4f %.4f %.4f %.1f\n", sum / count / 1e3, t[count / 2] / 1e3, t[p99] / 1e3, t[count - 1] / 1e3,
               count / seconds);
        fflush(stdout);
        free(t);
    }

    close(sock);
    return 0;
}
