// Plain-socket references for the transport and the disk: what C does on this box, measured in
// the same run as the Swift figures they bound.
#include "CReference.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int full_io(int fd, void *buffer, size_t size, int writing) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = writing ? write(fd, (char *)buffer + done, size - done) : read(fd, (char *)buffer + done, size - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int cref_tcp_ping_pong(uint32_t round_trips, uint32_t size, uint64_t *latencies) {
    if (size == 0 || size > 65536) return -1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) return -1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
        close(listener);
        return -1;
    }
    pid_t child = fork();
    if (child < 0) { close(listener); return -1; }
    if (child == 0) {
        // The echo process: read a message, send it back, until the peer closes. After fork in a
        // threaded process only async-signal-safe calls are safe, so no malloc: a static buffer.
        static char buffer[65536];
        int fd = accept(listener, NULL, NULL);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        while (full_io(fd, buffer, size, 0) == 0 && full_io(fd, buffer, size, 1) == 0) {}
        _exit(0);
    }
    close(listener);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int result = connect(fd, (struct sockaddr *)&address, sizeof address);
    char *buffer = calloc(1, size);
    for (uint32_t i = 0; result == 0 && i < round_trips; i++) {
        uint64_t start = now_ns();
        if (full_io(fd, buffer, size, 1) != 0 || full_io(fd, buffer, size, 0) != 0) { result = -1; break; }
        latencies[i] = now_ns() - start;
    }
    free(buffer);
    close(fd);
    int status;
    waitpid(child, &status, 0);
    if (result == 0) qsort(latencies, round_trips, sizeof(uint64_t), compare_u64);
    return result;
}

int cref_frame_round_trips(uint16_t port, const void *frame, uint32_t frame_size, uint32_t warmup,
                           uint32_t round_trips, uint64_t *latencies) {
    if (frame_size < 4 || frame_size > 65536) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    int result = connect(fd, (struct sockaddr *)&address, sizeof address);
    // A reply frame: a u32 little-endian length of the bytes after it, then those bytes.
    char *reply = malloc(1 << 16);
    for (uint32_t i = 0; result == 0 && i < warmup + round_trips; i++) {
        uint64_t start = now_ns();
        uint32_t length;
        if (full_io(fd, (void *)frame, frame_size, 1) != 0 || full_io(fd, &length, sizeof length, 0) != 0 ||
            length > (1 << 16) || full_io(fd, reply, length, 0) != 0) {
            result = -1;
            break;
        }
        if (i >= warmup) latencies[i - warmup] = now_ns() - start;
    }
    free(reply);
    close(fd);
    if (result == 0) qsort(latencies, round_trips, sizeof(uint64_t), compare_u64);
    return result;
}

int cref_append_fdatasync(const char *path, uint32_t appends, uint32_t size, uint64_t *latencies) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) return -1;
    char *buffer = malloc(size);
    memset(buffer, 0x5a, size);
    int result = 0;
    for (uint32_t i = 0; i < appends; i++) {
        uint64_t start = now_ns();
        if (full_io(fd, buffer, size, 1) != 0 || fdatasync(fd) != 0) { result = -1; break; }
        latencies[i] = now_ns() - start;
    }
    free(buffer);
    close(fd);
    unlink(path);
    if (result == 0) qsort(latencies, appends, sizeof(uint64_t), compare_u64);
    return result;
}
