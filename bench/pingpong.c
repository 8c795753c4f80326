/* SPDX-License-Identifier: MIT */
/*
 * pingpong: round trips of a 1-byte message over a loopback TCP connection
 * (TCP_NODELAY on both ends). One event loop holds both ends: the client's
 * readable event reads the reply and sends the next message, the server's
 * reads the message and sends it back. Each message is one readable event,
 * so events = 2 x round trips and ns_per_event is half a round trip. Both
 * ends in one thread keep the scheduler out of the figure: what is measured
 * is the event library and the TCP stack.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static void no_delay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        bench_die("setsockopt TCP_NODELAY", 0);
}

/* A connected loopback TCP pair: *client and *server, non-blocking. */
static void tcp_pair(int *client, int *server)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0)
        bench_die("socket", 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
        bench_die("listen on 127.0.0.1", 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (*client < 0 || connect(*client, (struct sockaddr *)&addr, sizeof addr) < 0)
        bench_die("connect", 0);
    *server = accept(listener, NULL, NULL);
    if (*server < 0)
        bench_die("accept", 0);
    close(listener);
    no_delay(*client);
    no_delay(*server);
    bench_nonblocking(*client);
    bench_nonblocking(*server);
}

int main(int argc, char **argv)
{
    uint64_t round_trips = 10000;
    const struct bench_opt opts[] = {
        {"round-trips", &round_trips, NULL, "round trips, each two events (default 10000)"},
        {NULL, NULL, NULL, NULL},
    };
    enum bench_mode mode = bench_parse(argc, argv, "pingpong", opts);
    if (round_trips == 0) {
        fprintf(stderr, "pingpong-%s: needs --round-trips >= 1\n", impl_name);
        return 2;
    }

    int client, server;
    tcp_pair(&client, &server);
    /* Node 0 is the client (its token is the reply), node 1 the server. */
    struct ring_node nodes[2] = {
        {.read_fd = client, .write_fd = client},
        {.read_fd = server, .write_fd = server},
    };
    struct ring ring = {.nodes = nodes, .n = 2, .mode = mode};
    impl_ring_setup(&ring);
    /* The first message is the client's: the server (node 1) receives it. */
    char message = 'p';
    if (write(client, &message, 1) != 1)
        bench_die("write", 0);
    ring.count = 0;
    ring.total = 2 * round_trips;
    ring.writes_left = ring.total - 1;

    uint64_t start = bench_now_ns();
    bench_dispatch(&ring);
    uint64_t elapsed = bench_now_ns() - start;
    if (ring.count != ring.total) {
        fprintf(stderr, "pingpong-%s: %" PRIu64 " events of %" PRIu64 "\n", impl_name, ring.count,
                ring.total);
        return 1;
    }

    char params[64];
    snprintf(params, sizeof params, "round_trips=%" PRIu64, round_trips);
    bench_report("pingpong", mode, params, ring.count, elapsed);

    impl_ring_teardown(&ring);
    close(client);
    close(server);
    return 0;
}
