/*
 * ls_sync_republish.c - a resync job (lmsync-admin resync) republishes what
 * is derived from its scope's stored state, after its complete full scan
 * brought that state up to date: a consumer that lost its view of the
 * current topic or of the rollup topics gets every record of the scope
 * again, newer than its request.
 *
 * The states are read in one LMDB read transaction; producing inside it
 * only copies each record into the batch (held: LS_SEND_AFTER_EVENTS), so
 * no network call happens while the transaction is open. The batch holds
 * a copy of every value of the scope until delivery (about 0.5 KB per
 * activity).
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    ls_sync_job_t *j;
    ls_batch_t *b;
    ls_store_reader_t *rd;  /* the walk's read transaction, also for the catalog names */
    uint64_t n;
} republish_t;

static int republish_cb(const char *id, const uint8_t *state, size_t len, void *ud)
{
    republish_t *r = ud;
    ls_sync_job_t *j = r->j;
    ls_activity_t a;
    if (ls_state_unpack(state, len, &a) != LS_OK) {
        ls_warn("stored state of \"%s\" in \"%s\" does not decode; not republished", id, j->conn);
        return 0;
    }
    if (j->run.course_id[0] && (a.pres[LS_F_COURSE_ID] != LS_PRESENT || strcmp(a.course_id, j->run.course_id) != 0))
        return 0;
    snprintf(a.id, sizeof(a.id), "%s", id);
    if (ls_sync_produce_current(j, id, &a, 1, r->rd, r->b) != LS_OK)
        return LS_EIO;
    r->n++;
    return 0;
}

/* Every enrollment and course rollup of the scope, through the walk's reader; rows into j->ru. */
static int republish_rollups(ls_sync_job_t *j, ls_batch_t *b, ls_store_reader_t *rd)
{
    char err[256];
    ls_event_ctx_t ec;
    ls_ru_env_t env;
    ls_sync_event_ctx(j, &ec);
    ls_sync_ru_env(j, rd, &ec, b, &env);
    ls_ru_rows_reset(&j->ru);
    int rc = ls_ru_republish(&env, j->run.course_id, &j->ru, err, sizeof(err));
    j->st.rollups_republished = j->ru.enrollments + j->ru.courses;
    if (rc != LS_OK)
        ls_error("%s", err);
    return rc;
}

int ls_sync_republish(ls_sync_job_t *j, ls_batch_t *b, uint64_t *n)
{
    char err[256];
    ls_store_reader_t *rd = ls_store_reader_new(j->ctx->store, err, sizeof(err));
    if (!rd) {
        ls_error("%s", err);
        return LS_EIO;
    }
    republish_t r = {j, b, rd, 0};
    int rc = j->ctx->cfg->current_enabled ? ls_store_reader_foreach(rd, j->partition, j->conn, republish_cb, &r)
                                          : LS_OK;
    if (rc == LS_OK && j->ctx->cfg->rollups_enabled)
        rc = republish_rollups(j, b, rd);
    ls_store_reader_destroy(rd);
    *n = r.n;
    if (rc != LS_OK) {
        ls_error("resync of \"%s\": republishing failed after %llu current records and %llu rollups", j->scope,
                 (unsigned long long)r.n, (unsigned long long)j->st.rollups_republished);
        return LS_EIO;
    }
    ls_info("resync of \"%s\": %llu current records and %llu rollups republished", j->scope,
            (unsigned long long)r.n, (unsigned long long)j->st.rollups_republished);
    return LS_OK;
}

int ls_sync_republish_store(ls_sync_job_t *j)
{
    char err[256];
    const ls_store_row_t *rows = ls_ru_rows_view(&j->ru);
    int rc = !rows     ? LS_ENOMEM
             : j->ru.n ? ls_store_commit_rows(j->ctx->store, j->partition, j->conn, NULL, 0, NULL, 0,
                                              rows, j->ru.n, -1, NULL, NULL, err, sizeof(err))
                       : LS_OK;
    if (rc != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "%s", rc == LS_ENOMEM ? "out of memory" : err);
        return LS_EIO;
    }
    return LS_OK;
}
