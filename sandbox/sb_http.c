/*
 * sb_http.c - routing, auth, handlers and fault application (see sb_http.h).
 *
 * Each request is answered in three steps: the route's handler produces a
 * status and a JSON body (sb_reply_t), response-altering faults rewrite it,
 * then sb_send() serialises and queues it (possibly as a truncated stream)
 * and records stats. Only requests outside /_sandbox count in the stats.
 *
 * Rate limits (sb_rate.c) are asked before faults: a /lms request they
 * refuse is answered 429 at once, without sleeping or using up a fault.
 */
#include "sb_http.h"

#include <arpa/inet.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"
#include "sb_jsonw.h"
#include "sb_rate.h"
#include "sb_webhook.h"

#define SB_MAX_KV 128
#define SB_MAX_SEGS 6
#define SB_MAX_BODY (1024 * 1024)

struct sb_http {
    struct MHD_Daemon *daemon;
    sb_world_t *world;
    sb_faults_t *faults;
    sb_clock_t *clock;
    sb_rate_t *rate;
    sb_virtual_t virt;
    sb_webhooks_t *webhooks;      /* subscriptions and their sender thread */
    char *token;
    long latency_ms;
    unsigned port;
    atomic_int stopping;
    pthread_mutex_t sleep_mu;     /* with sleep_cv: sleeping handlers wake at once on stop */
    pthread_cond_t sleep_cv;      /* on CLOCK_MONOTONIC */
    pthread_mutex_t stats_mu;
    unsigned long long requests, bytes_sent;
    unsigned long long by_status[600];
};

typedef struct sb_req {
    char *body;
    size_t len, cap;
    bool too_big;
} sb_req_t;

typedef struct sb_reply {
    int status;
    json_t *body;            /* owned */
    char *text;              /* owned; when set, the body already as JSON text (wins over body) */
    size_t text_len;
    int retry_after;         /* seconds; 0 = none */
    long retry_after_ms;     /* retry-after-ms header; 0 = none */
    bool truncate;
} sb_reply_t;

typedef struct sb_kvs {
    sb_kv_t kv[SB_MAX_KV];
    size_t n;
} sb_kvs_t;

/* ---- small helpers ---------------------------------------------------- */

static void sb_reply_set(sb_reply_t *r, int status, json_t *body)
{
    json_decref(r->body);
    free(r->text);
    r->text = NULL;
    r->status = status;
    r->body = body;
}

/* A body already written as JSON text (steals text). */
static void sb_reply_text(sb_reply_t *r, int status, char *text, size_t len)
{
    sb_reply_set(r, status, NULL);
    r->text = text;
    r->text_len = len;
}

static void sb_reply_msg(sb_reply_t *r, int status, const char *msg)
{
    sb_reply_set(r, status, json_pack("{s:s}", "message", msg));
}

static enum MHD_Result sb_kv_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    sb_kvs_t *k = cls;
    if (k->n < SB_MAX_KV) {
        k->kv[k->n].key = key;
        k->kv[k->n].value = value;
        k->n++;
    }
    return MHD_YES;
}

static const char *sb_kv_get(const sb_kvs_t *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->kv[i].key, key) == 0)
            return k->kv[i].value ? k->kv[i].value : "";
    return NULL;
}

/* limit/offset of the simple list endpoints; -1 on a malformed value. */
static int sb_paging(const sb_kvs_t *k, long *limit, long *offset)
{
    const char *l = sb_kv_get(k, "limit"), *o = sb_kv_get(k, "offset");
    *limit = SB_QUERY_DEFAULT_LIMIT;
    *offset = 0;
    if ((l && sb_parse_nonneg(l, limit) != LS_OK) || (o && sb_parse_nonneg(o, offset) != LS_OK))
        return -1;
    if (*limit == 0)
        *limit = SB_QUERY_DEFAULT_LIMIT;
    return 0;
}

/* Sleep ms in one wait (not in slices: a wake-up costs a context switch), cut short by sb_http_stop. */
static void sb_sleep_ms(sb_http_t *h, long ms)
{
    if (ms <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->sleep_mu);
    while (!atomic_load(&h->stopping))
        if (pthread_cond_timedwait(&h->sleep_cv, &h->sleep_mu, &until) != 0)
            break;                       /* ETIMEDOUT: slept enough */
    pthread_mutex_unlock(&h->sleep_mu);
}

static size_t sb_split(char *path, char **segs, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return max + 1;
        segs[n++] = s;
    }
    return n;
}

/* ---- sending ---------------------------------------------------------- */

typedef struct sb_trunc {
    char *buf;
    size_t cut;
} sb_trunc_t;

static ssize_t sb_trunc_read(void *cls, uint64_t pos, char *out, size_t max)
{
    sb_trunc_t *t = cls;
    if (pos >= t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->cut - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(out, t->buf + pos, n);
    return (ssize_t)n;
}

static void sb_trunc_free(void *cls)
{
    sb_trunc_t *t = cls;
    free(t->buf);
    free(t);
}

static void sb_stats_add(sb_http_t *h, int status, size_t bytes)
{
    pthread_mutex_lock(&h->stats_mu);
    h->requests++;
    h->bytes_sent += bytes;
    if (status >= 100 && status < 600)
        h->by_status[status]++;
    pthread_mutex_unlock(&h->stats_mu);
}

static struct MHD_Response *sb_make_response(sb_reply_t *r, char *buf, size_t len, size_t *sent)
{
    if (!r->truncate) {
        *sent = len;
        return MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    }
    sb_trunc_t *t = malloc(sizeof(*t));
    if (!t) {
        free(buf);
        return NULL;
    }
    t->buf = buf;
    t->cut = len / 2;
    *sent = t->cut;
    struct MHD_Response *resp = MHD_create_response_from_callback(len, 4096, sb_trunc_read, t, sb_trunc_free);
    if (!resp)
        sb_trunc_free(t);
    return resp;
}

/* Queue r's body (r->text is handed over to the response). */
static enum MHD_Result sb_send(sb_http_t *h, struct MHD_Connection *conn, sb_reply_t *r, bool api)
{
    char *buf = r->text;
    size_t len = r->text_len, sent = 0;
    r->text = NULL;
    if (!buf && r->body && (buf = json_dumps(r->body, SB_JSON_DUMP_FLAGS)))
        len = strlen(buf);
    if (!buf && (buf = strdup("{\"message\":\"internal error\"}")))
        len = strlen(buf);
    if (!buf)
        return MHD_NO;
    struct MHD_Response *resp = sb_make_response(r, buf, len, &sent);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->retry_after_ms > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%ld", r->retry_after_ms);
        MHD_add_response_header(resp, "retry-after-ms", ra);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (api)
        sb_stats_add(h, r->status, sent);
    return rc;
}

/* ---- /unified and /lms ------------------------------------------------ */

static bool sb_authorized(const sb_http_t *h, struct MHD_Connection *conn)
{
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a)
        return false;
    if (strncmp(a, "Bearer ", 7) == 0)
        a += 7;
    return strcmp(a, h->token) == 0;
}

static bool sb_categories_ok(const sb_kvs_t *k)
{
    bool given = false;
    for (size_t i = 0; i < k->n; i++) {
        if (strcmp(k->kv[i].key, "categories") != 0)
            continue;
        given = true;
        if (k->kv[i].value && strstr(k->kv[i].value, "lms"))
            return true;
    }
    return !given;
}

static void sb_unified(sb_http_t *h, char **segs, size_t nseg, const sb_kvs_t *k, sb_reply_t *r)
{
    long limit, offset;
    if (nseg == 2 && strcmp(segs[1], "connection") == 0) {
        if (sb_paging(k, &limit, &offset) < 0) {
            sb_reply_msg(r, 400, "limit and offset must be non-negative integers");
            return;
        }
        sb_reply_set(r, 200, h->virt.n ? sb_virtual_connections_json(&h->virt, limit, offset)
                                       : sb_world_connections_json(h->world, sb_categories_ok(k) ? NULL : "none",
                                                                   sb_kv_get(k, "external_xref"), limit, offset));
    } else if (nseg == 3 && strcmp(segs[1], "connection") == 0) {
        json_t *c = sb_virtual_connection_json(&h->virt, segs[2]);
        if (!c)
            c = sb_world_connection_json(h->world, segs[2]);
        if (c)
            sb_reply_set(r, 200, c);
        else
            sb_reply_msg(r, 404, "connection not found");
    } else if (nseg == 2 && strcmp(segs[1], "integration") == 0) {
        json_t *arr = json_array();
        const char *type = sb_kv_get(k, "type");
        for (size_t i = 0; sb_categories_ok(k) && i < sb_profile_count(); i++) {
            const sb_profile_t *p = sb_profile_at(i);
            if (!type || strcmp(type, p->type) == 0)
                json_array_append_new(arr, sb_profile_integration_json(p));
        }
        sb_reply_set(r, 200, arr);
    } else {
        sb_reply_msg(r, 404, "not found");
    }
}

/* The id of a list text "[{"id":"...",..." (NULL, *len 0 when it does not start so). */
static const char *sb_first_id(const char *text, size_t *len)
{
    static const char head[] = "[{\"id\":\"";
    *len = 0;
    if (!text || strncmp(text, head, sizeof(head) - 1) != 0)
        return NULL;
    const char *id = text + sizeof(head) - 1, *end = strchr(id, '"');
    *len = end ? (size_t)(end - id) : 0;
    return end ? id : NULL;
}

/*
 * duplicate_ids: *text (a page at offset > 0) gets the id of the list's first
 * record on its first record, with that record's own other members: one id
 * listed twice with different contents. Unchanged when either has no id.
 */
static void sb_duplicate_first_id(sb_http_t *h, const char *cid, const sb_query_t *q, char **text, size_t *len)
{
    sb_query_t q0 = *q;
    char err[160], *first = NULL, *out;
    size_t flen = 0, il, pl;
    q0.offset = 0;
    q0.limit = 1;
    if (sb_world_list_activities_text(h->world, cid, &q0, false, &first, &flen, err, sizeof(err)) != LS_OK)
        return;
    const char *id = sb_first_id(first, &il), *pid = sb_first_id(*text, &pl);
    if (id && pid && (out = malloc(*len - pl + il + 1))) {
        size_t at = (size_t)(pid - *text);
        memcpy(out, *text, at);
        memcpy(out + at, id, il);
        memcpy(out + at + il, pid + pl, *len - at - pl + 1);
        free(*text);
        *text = out;
        *len = *len - pl + il;
    }
    free(first);
}

/*
 * Activity list and single record, written as text by sb_data.c (no jansson
 * tree per record). action: the response-altering fault that hit this
 * request: bad_record comes with the text, as sb_apply_action() applies it
 * to a tree; the hostile ones (ignore_offset, ignore_limit, duplicate_ids)
 * change what the list answers.
 */
static void sb_lms_activity(sb_http_t *h, const char *cid, const char *aid, const sb_kvs_t *k,
                            sb_fault_kind_t action, sb_reply_t *r)
{
    bool bad = action == SB_FAULT_BAD_RECORD;
    sb_query_t q;
    char err[160] = "bad request";
    char *text = NULL;
    size_t len = 0;
    if (sb_query_parse(k->kv, k->n, &q, err, sizeof(err)) != LS_OK) {
        sb_reply_msg(r, 400, err);
        return;
    }
    if (aid) {
        int grc = sb_world_get_activity_text(h->world, cid, aid, &q, bad, &text, &len);
        if (grc == LS_OK)
            sb_reply_text(r, 200, text, len);
        else
            sb_reply_msg(r, grc == LS_ENOTFOUND ? 404 : 500,
                         grc == LS_ENOTFOUND ? "activity not found" : "out of memory");
        return;
    }
    if (q.offset > 0) {               /* mid-scan: a "shift" fault moves the list under it */
        sb_shift_dir_t dir = sb_faults_take_shift(h->faults, cid);
        json_t *change = NULL;
        if (dir != SB_SHIFT_NONE &&
            sb_world_shift(h->world, cid, &q, dir == SB_SHIFT_DELETE, ls_time_now_ms(), &change) == LS_OK &&
            change)
            ls_info("shift fault on \"%s\" at offset %ld: %s %s", cid, q.offset,
                    json_string_value(json_object_get(change, "type")),
                    json_string_value(json_object_get(change, "activity_id")));
        json_decref(change);
    }
    long asked = q.offset;
    if (action == SB_FAULT_IGNORE_OFFSET)
        q.offset = 0;
    else if (action == SB_FAULT_IGNORE_LIMIT)
        q.limit *= 2;
    int rc = sb_world_list_activities_text(h->world, cid, &q, bad, &text, &len, err, sizeof(err));
    if (rc == LS_OK && action == SB_FAULT_DUPLICATE_IDS && asked > 0)
        sb_duplicate_first_id(h, cid, &q, &text, &len);
    if (rc == LS_OK)
        sb_reply_text(r, 200, text, len);
    else
        sb_reply_msg(r, rc == LS_ENOTFOUND ? 404 : rc == LS_EINVAL ? 400 : 500, err);
}

static void sb_lms(sb_http_t *h, char **segs, size_t nseg, const sb_kvs_t *k, sb_fault_kind_t action,
                   sb_reply_t *r)
{
    const char *cid = segs[1];
    json_t *out = NULL;
    if (strcmp(segs[2], "activity") == 0) {
        sb_lms_activity(h, cid, nseg == 4 ? segs[3] : NULL, k, action, r);
    } else if (strcmp(segs[2], "course") == 0 && nseg == 3) {
        long limit, offset;
        if (sb_paging(k, &limit, &offset) < 0) {
            sb_reply_msg(r, 400, "limit and offset must be non-negative integers");
            return;
        }
        if (sb_virtual_courses_json(&h->virt, cid, limit, offset, &out) != LS_OK &&
            sb_world_list_courses(h->world, cid, limit, offset, &out) != LS_OK) {
            sb_reply_msg(r, 404, "connection not found");
            return;
        }
        sb_reply_set(r, 200, out);
    } else if (strcmp(segs[2], "content") == 0 && nseg == 3) {
        long limit, offset;
        if (sb_paging(k, &limit, &offset) < 0) {
            sb_reply_msg(r, 400, "limit and offset must be non-negative integers");
            return;
        }
        if (sb_world_list_contents(h->world, cid, limit, offset, &out) != LS_OK) {
            sb_reply_msg(r, 404, "connection not found");
            return;
        }
        sb_reply_set(r, 200, out);
    } else if (strcmp(segs[2], "course") == 0) {
        if (sb_world_get_course(h->world, cid, segs[3], &out) != LS_OK) {
            sb_reply_msg(r, 404, "course not found");
            return;
        }
        sb_reply_set(r, 200, out);
    } else {
        sb_reply_msg(r, 404, "not found");
    }
}

static void sb_apply_action(const sb_fault_hit_t *hit, sb_reply_t *r)
{
    switch (hit->action) {
    case SB_FAULT_NOT_ARRAY:
        sb_reply_msg(r, 200, "sandbox fault: not an array");
        break;
    case SB_FAULT_TRUNCATE:
        r->truncate = true;
        break;
    case SB_FAULT_BAD_RECORD: {     /* on a tree; text bodies were written with it (sb_lms_activity) */
        json_t *rec = json_is_array(r->body) ? json_array_get(r->body, 0) : r->body;
        if (json_is_object(rec))
            json_object_set_new(rec, "progress_percentage", json_string("fifty"));
        break;
    }
    default:
        break;
    }
}

/*
 * A 429 from a rate limit: the vendor's names its rate and says when to
 * come back in Retry-After seconds; Unified's own has its fixed message
 * and retry-after-ms (what the SDK reads first).
 */
static void sb_rate_reply(const sb_rate_hit_t *rl, sb_reply_t *r)
{
    if (rl->verdict == SB_RATE_UNIFIED) {
        sb_reply_msg(r, 429, "Too many requests to Unified.to");
        r->retry_after_ms = sb_rate_retry_after_ms(rl->wait_ns);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "rate limited by the LMS (%g requests/s)", rl->rps);
    sb_reply_msg(r, 429, msg);
    r->retry_after = (int)sb_rate_retry_after_s(rl->wait_ns);
}

static void sb_api(sb_http_t *h, struct MHD_Connection *conn, const char *method,
                   char **segs, size_t nseg, const sb_kvs_t *k, sb_reply_t *r)
{
    bool unified = nseg >= 2 && nseg <= 3 && strcmp(segs[0], "unified") == 0;
    bool lms = nseg >= 3 && nseg <= 4 && strcmp(segs[0], "lms") == 0;
    if (!sb_authorized(h, conn)) {
        sb_reply_msg(r, 401, "unauthorized");
        return;
    }
    if (!unified && !lms) {
        sb_reply_msg(r, 404, "not found");
        return;
    }
    sb_req_kind_t kind = unified ? SB_REQ_UNIFIED
                       : strcmp(segs[2], "activity") == 0 ? SB_REQ_ACTIVITY
                       : strcmp(segs[2], "course") == 0 ? SB_REQ_COURSE
                       : strcmp(segs[2], "content") == 0 ? SB_REQ_CONTENT : SB_REQ_LMS_OTHER;
    if (lms) {
        sb_rate_hit_t rl;
        sb_rate_check(h->rate, segs[1], &rl);
        if (rl.verdict != SB_RATE_OK) {
            sb_rate_reply(&rl, r);
            return;
        }
    }
    sb_fault_hit_t hit;
    sb_faults_match(h->faults, lms ? segs[1] : NULL, kind, &hit);
    sb_sleep_ms(h, hit.sleep_ms + (lms ? h->latency_ms : 0));
    if (hit.action == SB_FAULT_STATUS) {
        /* a 429 fault is one connection's upstream saying no (a vendor limit), not Unified's own limit */
        sb_reply_msg(r, hit.status, hit.status == 429 ? "rate limited by the LMS (sandbox fault)" : "sandbox fault");
        r->retry_after = hit.retry_after;
        return;
    }
    if (strcmp(method, "GET") != 0) {
        sb_reply_msg(r, 405, "method not allowed");
        return;
    }
    if (unified)
        sb_unified(h, segs, nseg, k, r);
    else
        sb_lms(h, segs, nseg, k, hit.action, r);
    sb_apply_action(&hit, r);
}

/* ---- /_sandbox -------------------------------------------------------- */

static json_t *sb_body_json(const sb_req_t *rq, sb_reply_t *r)
{
    if (!rq->body || rq->len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        sb_reply_msg(r, 400, "body must be a JSON object");
        return NULL;
    }
    return j;
}

static long sb_body_long(const json_t *b, const char *key, long dflt)
{
    const json_t *v = json_object_get(b, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static void sb_ctl_clock(sb_http_t *h, const json_t *b, sb_reply_t *r)
{
    long tick = sb_body_long(b, "tick_ms", -1), per = sb_body_long(b, "mutations_per_tick", -1);
    sb_clock_set(h->clock, tick, per);
    unsigned cur_per;
    sb_clock_get(h->clock, &tick, &cur_per);
    sb_reply_set(r, 200, json_pack("{s:I,s:I}", "tick_ms", (json_int_t)tick,
                                   "mutations_per_tick", (json_int_t)cur_per));
}

static void sb_ctl_tick(sb_http_t *h, const json_t *b, sb_reply_t *r)
{
    long tick;
    unsigned per;
    sb_clock_get(h->clock, &tick, &per);
    long count = sb_body_long(b, "count", (long)per);
    if (count < 0 || count > 1000000) {
        sb_reply_msg(r, 400, "count must be 0..1000000");
        return;
    }
    json_t *changes = json_array();
    sb_world_tick(h->world, (unsigned)count, ls_time_now_ms(), changes);
    sb_reply_set(r, 200, json_pack("{s:o}", "changes", changes));
}

static void sb_ctl_activity_post(sb_http_t *h, const json_t *b, sb_reply_t *r)
{
    const json_t *aid = json_object_get(b, "activity_id");
    sb_apply_t req = {
        .connection_id = json_string_value(json_object_get(b, "connection_id")),
        .activity_id = json_string_value(aid),
        .set = json_object_get(b, "set"),
        .unset = json_object_get(b, "unset"),
        .force = json_is_true(json_object_get(b, "force")),
    };
    if (!req.connection_id || (aid && !json_is_null(aid) && !json_is_string(aid))) {
        sb_reply_msg(r, 400, "connection_id (string) is required; activity_id must be a string");
        return;
    }
    char err[160] = "bad request";
    json_t *change = NULL;
    int rc = sb_world_apply(h->world, &req, ls_time_now_ms(), &change, err, sizeof(err));
    if (rc != LS_OK) {
        sb_reply_msg(r, rc == LS_ENOTFOUND ? 404 : rc == LS_EINVAL ? 400 : 500, err);
        return;
    }
    sb_reply_set(r, 200, json_pack("{s:o}", "change", change ? change : json_null()));
}

/* POST /_sandbox/course {"connection_id", "course_id", "name"}: rename a course (what a catalog refresh sees). */
static void sb_ctl_course_post(sb_http_t *h, const json_t *b, sb_reply_t *r)
{
    const char *cid = json_string_value(json_object_get(b, "connection_id"));
    const char *crs = json_string_value(json_object_get(b, "course_id"));
    const char *name = json_string_value(json_object_get(b, "name"));
    if (!cid || !crs || !name || !name[0] || strlen(name) > 200) {
        sb_reply_msg(r, 400, "connection_id, course_id and name (1..200 bytes) are required strings");
        return;
    }
    int rc = sb_world_rename_course(h->world, cid, crs, name);
    if (rc != LS_OK) {
        sb_reply_msg(r, rc == LS_ENOTFOUND ? 404 : 500, rc == LS_ENOTFOUND ? "course not found" : "out of memory");
        return;
    }
    sb_reply_set(r, 200, json_pack("{s:s,s:s,s:s}", "connection_id", cid, "course_id", crs, "name", name));
}

static void sb_ctl_activity_delete(sb_http_t *h, const sb_kvs_t *k, sb_reply_t *r)
{
    json_t *change = NULL;
    if (sb_world_remove(h->world, sb_kv_get(k, "connection_id"), sb_kv_get(k, "activity_id"),
                        ls_time_now_ms(), &change) != LS_OK) {
        sb_reply_msg(r, 404, "activity not found");
        return;
    }
    sb_reply_set(r, 200, json_pack("{s:o}", "change", change));
}

static void sb_ctl_changes(sb_http_t *h, const sb_kvs_t *k, sb_reply_t *r)
{
    long since = 1, limit = 1000;
    const char *s = sb_kv_get(k, "since"), *l = sb_kv_get(k, "limit");
    if ((s && sb_parse_nonneg(s, &since) != LS_OK) || (l && sb_parse_nonneg(l, &limit) != LS_OK)) {
        sb_reply_msg(r, 400, "since and limit must be non-negative integers");
        return;
    }
    if (limit == 0 || limit > 100000)
        limit = limit == 0 ? 1000 : 100000;
    sb_reply_set(r, 200, sb_world_changes(h->world, (uint64_t)since, (size_t)limit));
}

static void sb_ctl_stats(sb_http_t *h, sb_reply_t *r)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    json_t *by = json_object();
    pthread_mutex_lock(&h->stats_mu);
    for (int s = 100; s < 600; s++)
        if (h->by_status[s]) {
            char key[8];
            snprintf(key, sizeof(key), "%d", s);
            json_object_set_new(by, key, json_integer((json_int_t)h->by_status[s]));
        }
    json_t *j = json_pack("{s:I,s:I,s:o,s:f,s:f,s:I}", "requests", (json_int_t)h->requests,
                          "bytes_sent", (json_int_t)h->bytes_sent, "by_status", by,
                          "cpu_user_s", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
                          "cpu_sys_s", (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
                          "next_change_seq", (json_int_t)sb_world_next_seq(h->world));
    pthread_mutex_unlock(&h->stats_mu);
    if (j) {
        sb_rate_stats_json(h->rate, j);
        json_object_set_new(j, "webhooks", sb_webhooks_stats(h->webhooks));
    }
    sb_reply_set(r, 200, j);
}

/* POST /_sandbox/stats/reset: every counter of /_sandbox/stats back to 0 (not the CPU times or seq). */
static void sb_ctl_stats_reset(sb_http_t *h, sb_reply_t *r)
{
    pthread_mutex_lock(&h->stats_mu);
    h->requests = h->bytes_sent = 0;
    memset(h->by_status, 0, sizeof(h->by_status));
    pthread_mutex_unlock(&h->stats_mu);
    sb_rate_reset_stats(h->rate);
    sb_reply_set(r, 200, json_pack("{s:b}", "reset", 1));
}

static void sb_ctl_ratelimit(sb_http_t *h, const char *method, const json_t *b, sb_reply_t *r)
{
    if (strcmp(method, "DELETE") == 0) {
        sb_rate_clear(h->rate);
        ls_info("rate limits cleared");
    } else if (strcmp(method, "POST") == 0) {
        sb_rate_req_t req;
        char err[160] = "bad request";
        if (sb_rate_parse_body(b, &req, err, sizeof(err)) != LS_OK) {
            sb_reply_msg(r, 400, err);
            return;
        }
        if (sb_rate_set(h->rate, req.connection_id, &req.limit) != LS_OK) {
            sb_reply_msg(r, 404, "connection not found");
            return;
        }
        if (req.limit.rps > 0.0)
            ls_info("rate limit of \"%s\": %g requests/s, burst %u", req.unified ? "unified" : req.connection_id,
                    req.limit.rps, sb_rate_limit_burst(&req.limit));
        else
            ls_info("rate limit of \"%s\" removed", req.unified ? "unified" : req.connection_id);
    }
    sb_reply_set(r, 200, sb_rate_limits_json(h->rate));
}

static void sb_ctl_faults(sb_http_t *h, const char *method, const json_t *b, sb_reply_t *r)
{
    if (strcmp(method, "DELETE") == 0) {
        sb_faults_clear(h->faults);
        sb_reply_set(r, 200, json_pack("{s:b}", "cleared", 1));
        return;
    }
    if (strcmp(method, "GET") == 0) {
        sb_reply_set(r, 200, sb_faults_list(h->faults));
        return;
    }
    char err[160] = "bad request";
    json_t *echo = NULL;
    if (sb_faults_add(h->faults, b, &echo, err, sizeof(err)) != LS_OK) {
        sb_reply_msg(r, 400, err);
        return;
    }
    sb_reply_set(r, 200, json_pack("{s:o}", "fault", echo));
}

static void sb_ctl_webhook_faults(sb_http_t *h, const char *method, const json_t *b, sb_reply_t *r)
{
    char err[160] = "bad request";
    json_t *out = NULL;
    int st = sb_webhooks_faults(h->webhooks, method, b, &out, err, sizeof(err));
    if (st == 200)
        sb_reply_set(r, 200, out);
    else
        sb_reply_msg(r, st, err);
}

/* /unified/webhook[/{id}]: POST (create), GET (list, one), DELETE (one); auth as the API. */
static void sb_webhook_api(sb_http_t *h, struct MHD_Connection *conn, const char *method, char **segs, size_t nseg,
                           const sb_req_t *rq, const sb_kvs_t *k, sb_reply_t *r)
{
    char err[160] = "bad request";
    json_t *out = NULL, *b = NULL;
    int st = 404;
    sb_fault_hit_t hit;
    long limit, offset;
    if (!sb_authorized(h, conn)) {
        sb_reply_msg(r, 401, "unauthorized");
        return;
    }
    sb_faults_match(h->faults, NULL, SB_REQ_WEBHOOK, &hit);
    sb_sleep_ms(h, hit.sleep_ms);
    if (hit.action == SB_FAULT_STATUS) {
        sb_reply_msg(r, hit.status, "sandbox fault");
        r->retry_after = hit.retry_after;
        return;
    }
    if (nseg == 2 && strcmp(method, "POST") == 0) {
        if (!(b = sb_body_json(rq, r)))
            return;
        st = sb_webhooks_create(h->webhooks, b, &out, err, sizeof(err));
        json_decref(b);
    } else if (nseg == 2 && strcmp(method, "GET") == 0) {
        if (sb_paging(k, &limit, &offset) < 0) {
            sb_reply_msg(r, 400, "limit and offset must be non-negative integers");
            return;
        }
        out = sb_webhooks_list(h->webhooks, sb_kv_get(k, "connection_id"), (size_t)limit, (size_t)offset);
        st = 200;
    } else if (nseg == 3 && strcmp(method, "GET") == 0) {
        st = sb_webhooks_get(h->webhooks, segs[2], &out);
    } else if (nseg == 3 && strcmp(method, "DELETE") == 0) {
        st = sb_webhooks_delete(h->webhooks, segs[2], &out);
    } else {
        snprintf(err, sizeof(err), "method not allowed");
        st = 405;
    }
    if (st == 200)
        sb_reply_set(r, 200, out);
    else
        sb_reply_msg(r, st, st == 404 ? "webhook not found" : err);
    sb_apply_action(&hit, r);
}

static void sb_control(sb_http_t *h, const char *method, const char *what, const sb_req_t *rq,
                       const sb_kvs_t *k, sb_reply_t *r)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    json_t *b = NULL;
    if (post && !(b = sb_body_json(rq, r)))
        return;
    json_t *out = NULL;
    if (get && strcmp(what, "health") == 0)
        sb_reply_set(r, 200, json_pack("{s:b}", "ok", 1));
    else if (post && strcmp(what, "clock") == 0)
        sb_ctl_clock(h, b, r);
    else if (post && strcmp(what, "tick") == 0)
        sb_ctl_tick(h, b, r);
    else if (post && strcmp(what, "activity") == 0)
        sb_ctl_activity_post(h, b, r);
    else if (del && strcmp(what, "activity") == 0)
        sb_ctl_activity_delete(h, k, r);
    else if (post && strcmp(what, "course") == 0)
        sb_ctl_course_post(h, b, r);
    else if (get && strcmp(what, "activities") == 0) {
        const char *cid = sb_kv_get(k, "connection_id");
        if (!cid)
            sb_reply_msg(r, 400, "connection_id is required");
        else if (sb_world_activities(h->world, cid, &out) != LS_OK)
            sb_reply_msg(r, 404, "connection not found");
        else
            sb_reply_set(r, 200, out);
    } else if (get && strcmp(what, "changes") == 0)
        sb_ctl_changes(h, k, r);
    else if (get && strcmp(what, "stats") == 0)
        sb_ctl_stats(h, r);
    else if ((get || post || del) && strcmp(what, "faults") == 0)
        sb_ctl_faults(h, method, b, r);
    else if ((get || post || del) && strcmp(what, "ratelimit") == 0)
        sb_ctl_ratelimit(h, method, b, r);
    else if ((post || del) && strcmp(what, "webhook_faults") == 0)
        sb_ctl_webhook_faults(h, method, b, r);
    else
        sb_reply_msg(r, 404, "not found");
    json_decref(b);
}

/* ---- MHD plumbing ----------------------------------------------------- */

static enum MHD_Result sb_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    sb_http_t *h = cls;
    sb_req_t *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->len + *upload_size > SB_MAX_BODY) {
            rq->too_big = true;
        } else {
            if (rq->len + *upload_size > rq->cap) {
                size_t ncap = (rq->len + *upload_size) * 2;
                char *nb = realloc(rq->body, ncap);
                if (!nb)
                    return MHD_NO;
                rq->body = nb;
                rq->cap = ncap;
            }
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    sb_kvs_t kvs = { .n = 0 };
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, sb_kv_iter, &kvs);
    char path[1024];
    snprintf(path, sizeof(path), "%s", url ? url : "/");
    char *segs[SB_MAX_SEGS];
    size_t nseg = sb_split(path, segs, SB_MAX_SEGS);
    sb_reply_t r = { .status = 500 };
    bool control = nseg >= 1 && nseg <= SB_MAX_SEGS && strcmp(segs[0], "_sandbox") == 0;
    if (rq->too_big)
        sb_reply_msg(&r, 413, "body too large");
    else if (control && nseg == 2)
        sb_control(h, method, segs[1], rq, &kvs, &r);
    else if (control && nseg == 3 && strcmp(method, "POST") == 0 &&
             strcmp(segs[1], "stats") == 0 && strcmp(segs[2], "reset") == 0)
        sb_ctl_stats_reset(h, &r);
    else if (control)
        sb_reply_msg(&r, 404, "not found");
    else if ((nseg == 2 || nseg == 3) && strcmp(segs[0], "unified") == 0 && strcmp(segs[1], "webhook") == 0)
        sb_webhook_api(h, conn, method, segs, nseg, rq, &kvs, &r);
    else
        sb_api(h, conn, method, segs, nseg > SB_MAX_SEGS ? 0 : nseg, &kvs, &r);
    ls_debug("%s \"%s\" -> %d", method, url, r.status);
    enum MHD_Result rc = sb_send(h, conn, &r, !control);
    json_decref(r.body);
    free(r.text);
    return rc;
}

static void sb_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    sb_req_t *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

__attribute__((format(printf, 2, 0)))
static void sb_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    ls_warn("libmicrohttpd: %s", buf);
}

/* The limiter knows every connection of the world, and starts with the command-line limits. */
static int sb_http_rate_init(sb_http_t *h, const sb_http_config_t *cfg)
{
    if (!(h->rate = sb_rate_new(cfg->rate_clock, cfg->rate_clock_cls)))
        return LS_ENOMEM;
    json_t *conns = sb_world_connections_json(h->world, NULL, NULL, LONG_MAX, 0);
    size_t i;
    json_t *c;
    int rc = conns ? LS_OK : LS_ENOMEM;
    json_array_foreach(conns, i, c)
        if (rc == LS_OK)
            rc = sb_rate_add_connection(h->rate, json_string_value(json_object_get(c, "id")));
    json_decref(conns);
    if (rc == LS_OK) {
        sb_rate_set(h->rate, "*", &cfg->rate_limit);
        sb_rate_set(h->rate, NULL, &cfg->unified_rate_limit);
    }
    return rc;
}

sb_http_t *sb_http_start(const sb_http_config_t *cfg, sb_world_t *world, sb_faults_t *faults,
                         sb_clock_t *clock, char *errstr, size_t errstr_size)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "host \"%s\" is not an IPv4 address", cfg->host);
        return NULL;
    }
    sb_http_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->token = strdup(cfg->token))) {
        free(h);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->world = world;
    h->faults = faults;
    h->clock = clock;
    h->latency_ms = cfg->latency_ms;
    h->virt = cfg->virt;
    pthread_mutex_init(&h->stats_mu, NULL);
    pthread_mutex_init(&h->sleep_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->sleep_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (sb_http_rate_init(h, cfg) != LS_OK ||
        !(h->webhooks = sb_webhooks_new(world, cfg->webhook_secret ? cfg->webhook_secret : "sandbox-webhook-secret",
                                        cfg->webhook_hex))) {
        snprintf(errstr, errstr_size, "out of memory");
        sb_http_stop(h);
        return NULL;
    }
    h->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                 MHD_USE_POLL | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, sb_handle, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, sb_mhd_log, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, sb_completed, h,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%u", cfg->host, cfg->port);
        sb_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);
    if (di && getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        h->port = ntohs(bound.sin_port);
    return h;
}

unsigned sb_http_port(const sb_http_t *h)
{
    return h->port;
}

void sb_http_stop(sb_http_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->sleep_mu);
    atomic_store(&h->stopping, 1);
    pthread_cond_broadcast(&h->sleep_cv);
    pthread_mutex_unlock(&h->sleep_mu);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    sb_webhooks_destroy(h->webhooks);
    pthread_cond_destroy(&h->sleep_cv);
    pthread_mutex_destroy(&h->sleep_mu);
    pthread_mutex_destroy(&h->stats_mu);
    sb_rate_destroy(h->rate);
    free(h->token);
    free(h);
}
