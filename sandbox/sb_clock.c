/*
 * sb_clock.c - mutation clock thread (see sb_clock.h).
 *
 * Waits on a condition variable bound to CLOCK_MONOTONIC so that changing the
 * period or stopping takes effect immediately. The world's own mutex is taken
 * only inside sb_world_tick(), never while this thread waits.
 */
#include "sb_clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ls_log.h"
#include "ls_time.h"

struct sb_clock {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    sb_world_t *world;
    long tick_ms;
    unsigned per_tick;
    bool stop;
    unsigned generation;       /* bumped on every reconfiguration */
};

static void sb_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *sb_clock_main(void *arg)
{
    sb_clock_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (c->tick_ms <= 0) {
            pthread_cond_wait(&c->cond, &c->mu);
            continue;
        }
        struct timespec ts;
        unsigned gen = c->generation;
        sb_deadline(&ts, c->tick_ms);
        int rc = 0;
        while (!c->stop && gen == c->generation && rc == 0)
            rc = pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        if (c->stop || gen != c->generation)
            continue;
        unsigned n = c->per_tick;
        pthread_mutex_unlock(&c->mu);
        unsigned logged = sb_world_tick(c->world, n, ls_time_now_ms(), NULL);
        ls_debug("clock tick applied %u mutations", logged);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

sb_clock_t *sb_clock_new(sb_world_t *w, long tick_ms, unsigned mutations_per_tick)
{
    sb_clock_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    c->world = w;
    c->tick_ms = tick_ms;
    c->per_tick = mutations_per_tick;
    if (pthread_create(&c->thread, NULL, sb_clock_main, c) != 0) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    return c;
}

void sb_clock_set(sb_clock_t *c, long tick_ms, long mutations_per_tick)
{
    pthread_mutex_lock(&c->mu);
    if (tick_ms >= 0)
        c->tick_ms = tick_ms;
    if (mutations_per_tick >= 0)
        c->per_tick = (unsigned)mutations_per_tick;
    c->generation++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

void sb_clock_get(sb_clock_t *c, long *tick_ms, unsigned *mutations_per_tick)
{
    pthread_mutex_lock(&c->mu);
    *tick_ms = c->tick_ms;
    *mutations_per_tick = c->per_tick;
    pthread_mutex_unlock(&c->mu);
}

void sb_clock_destroy(sb_clock_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
