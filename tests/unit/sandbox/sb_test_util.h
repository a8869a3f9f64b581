/*
 * sb_test_util.h - helpers shared by the sandbox unit tests.
 */
#ifndef SB_TEST_UTIL_H
#define SB_TEST_UTIL_H

#include <string.h>

#include "sb_data.h"

#define SB_TEST_NOW 1798761600000LL   /* 2027-01-01T00:00:00Z: a fixed "now" */

/* A world with the given providers (comma list), seed and sizes. */
static inline sb_world_t *sb_test_world(const char *providers, uint64_t seed, unsigned conns)
{
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    cfg.seed = seed;
    cfg.connections = conns;
    cfg.nproviders = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", providers);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cfg.providers[cfg.nproviders++] = sb_profile_find(t);
    char err[128];
    return sb_world_new(&cfg, err, sizeof(err));
}

/* Compact dump for whole-value comparisons; caller frees. */
static inline char *sb_test_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

#endif
