/* SPDX-License-Identifier: MIT */
/*
 * A program outside the evsrc tree that uses evsrc the way its users do: only
 * <evsrc/evsrc.h>, found through pkg-config or a Meson dependency. It checks
 * that the headers and the loaded library are the same version (and the one
 * the build expected), then registers a source of its own on a pipe and sees
 * its event arrive. Exits 0 when all is well; says what failed otherwise.
 *
 * Build with -DEXPECTED_VERSION="\"x.y.z\"", the version being installed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evsrc/evsrc.h>

#ifndef EXPECTED_VERSION
#error "define EXPECTED_VERSION as a string literal: the version being installed"
#endif

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "consumer: FAILED: %s\n", what);
        failures++;
    }
}

static void check_version(void)
{
    char from_macros[32];
    snprintf(from_macros, sizeof from_macros, "%d.%d.%d", EVSRC_VERSION_MAJOR, EVSRC_VERSION_MINOR,
             EVSRC_VERSION_PATCH);
    check(strcmp(from_macros, EVSRC_VERSION_STRING) == 0, "EVSRC_VERSION_MAJOR/MINOR/PATCH match EVSRC_VERSION_STRING");
    check(strcmp(evsrc_version(), from_macros) == 0, "evsrc_version() matches the header's EVSRC_VERSION_*");
    check(evsrc_version_number() == EVSRC_VERSION_NUMBER, "evsrc_version_number() matches EVSRC_VERSION_NUMBER");
    check(EVSRC_VERSION_NUMBER == EVSRC_VERSION_MAJOR * 10000 + EVSRC_VERSION_MINOR * 100 + EVSRC_VERSION_PATCH,
          "EVSRC_VERSION_NUMBER is major * 10000 + minor * 100 + patch");
    check(strcmp(EVSRC_VERSION_STRING, EXPECTED_VERSION) == 0, "the headers are the version being installed");
    check(strcmp(evsrc_version(), EXPECTED_VERSION) == 0, "the loaded library is the version being installed");
}

/* A source of the consumer's own: the read end of a pipe. */
struct pipe_source {
    int fd;
    struct evsrc_source source;
};

static int pipe_register(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                         evsrc_interest interests)
{
    struct pipe_source *self = evsrc_container_of(source, struct pipe_source, source);
    return evsrc_registry_register_fd(registry, self->fd, token, interests);
}

static int pipe_reregister(struct evsrc_source *source, struct evsrc_registry *registry, evsrc_token token,
                           evsrc_interest interests)
{
    struct pipe_source *self = evsrc_container_of(source, struct pipe_source, source);
    return evsrc_registry_reregister_fd(registry, self->fd, token, interests);
}

static int pipe_deregister(struct evsrc_source *source, struct evsrc_registry *registry)
{
    struct pipe_source *self = evsrc_container_of(source, struct pipe_source, source);
    return evsrc_registry_deregister_fd(registry, self->fd);
}

static const struct event_source_ops pipe_source_ops = {pipe_register, pipe_reregister, pipe_deregister};

static void check_custom_source(void)
{
    int fds[2];
    struct evsrc_poll *poll = NULL;
    struct evsrc_events *events = NULL;
    if (pipe(fds) < 0) {
        check(0, "pipe()");
        return;
    }
    check(evsrc_poll_new(&poll) == 0, "evsrc_poll_new");
    check(evsrc_events_new(8, &events) == 0, "evsrc_events_new");
    if (failures == 0) {
        struct evsrc_registry *registry = evsrc_poll_registry(poll);
        struct pipe_source p = {fds[0], EVSRC_SOURCE_INIT(&pipe_source_ops)};
        check(evsrc_registry_register(registry, &p.source, 99, EVSRC_READABLE) == 0, "register a custom source");
        check(evsrc_registry_register(registry, &p.source, 99, EVSRC_READABLE) == -EEXIST,
              "a second register is -EEXIST");
        check(write(fds[1], "x", 1) == 1, "write to the pipe");
        struct timespec timeout = {10, 0};
        int n;
        do
            n = evsrc_poll_wait(poll, events, &timeout);
        while (n == -EINTR);
        check(n == 1, "one event within 10 s");
        const struct evsrc_event *event = evsrc_events_get(events, 0);
        check(evsrc_event_token(event) == 99 && evsrc_event_is_readable(event), "a readable event for token 99");
        check(evsrc_registry_deregister(registry, &p.source) == 0, "deregister");
        check(evsrc_registry_deregister(registry, &p.source) == -ENOENT, "a second deregister is -ENOENT");
    }
    evsrc_events_free(events);
    evsrc_poll_free(poll);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    check_version();
    check_custom_source();
    if (failures != 0)
        return 1;
    printf("consumer: evsrc %s (headers %s): ok\n", evsrc_version(), EVSRC_VERSION_STRING);
    return 0;
}
