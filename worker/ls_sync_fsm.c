/*
 * ls_sync_fsm.c - the transition table of a sync job (see ls_sync_fsm.h).
 */
#include "ls_sync_fsm.h"

#define TO(s) (1u << (s))

/* Per state, the states it may move to. */
static const unsigned legal[LS_SJ_N_STATES] = {
    [LS_SJ_START] = TO(LS_SJ_FETCHING) | TO(LS_SJ_BACKOFF) | TO(LS_SJ_DELIVERING) | TO(LS_SJ_DONE), /* DELIVERING: a webhook job */
    /* FETCHING -> FETCHING: a catalog job's next page (it stores without a delivery) */
    [LS_SJ_FETCHING] = TO(LS_SJ_FETCHING) | TO(LS_SJ_BACKOFF) | TO(LS_SJ_DELIVERING) | TO(LS_SJ_DONE),
    [LS_SJ_BACKOFF] = TO(LS_SJ_FETCHING) | TO(LS_SJ_BACKOFF) | TO(LS_SJ_DONE),
    [LS_SJ_DELIVERING] = TO(LS_SJ_FETCHING) | TO(LS_SJ_BACKOFF) | TO(LS_SJ_RECHECKING) | TO(LS_SJ_REMOVING) |
                         TO(LS_SJ_REPUBLISHING) | TO(LS_SJ_DONE),
    [LS_SJ_RECHECKING] = TO(LS_SJ_REMOVING) | TO(LS_SJ_DONE),
    [LS_SJ_REMOVING] = TO(LS_SJ_REPUBLISHING) | TO(LS_SJ_DONE),
    [LS_SJ_DONE] = 0,
    [LS_SJ_REPUBLISHING] = TO(LS_SJ_DONE),
};

int ls_sync_fsm_legal(ls_sync_state_t from, ls_sync_state_t to)
{
    if ((unsigned)from >= LS_SJ_N_STATES || (unsigned)to >= LS_SJ_N_STATES)
        return 0;
    return (legal[from] & TO(to)) != 0;
}

const char *ls_sync_state_name(ls_sync_state_t s)
{
    static const char *const names[LS_SJ_N_STATES] = {"start",      "fetching", "backoff", "delivering",
                                                      "rechecking", "removing", "done",  "republishing"};
    return (unsigned)s < LS_SJ_N_STATES ? names[s] : "?";
}
