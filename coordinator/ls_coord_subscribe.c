/*
 * ls_coord_subscribe.c - the webhook subscriptions lmsync keeps in Unified
 * (webhook.subscribe = native | native+virtual).
 *
 * Ownership: a subscription is lmsync's iff its hook_url is exactly
 * webhook.hook_url; any other is foreign and never touched. lmsync wants,
 * per connection whose activity profile has NATIVE webhooks (and, with
 * native+virtual, per other connection with VIRTUAL ones), one
 * lms_activity subscription per event (created, updated) of that kind
 * (virtual: at webhook.virtual_interval_min).
 *
 * A pass runs after each discovery (so profiles and the connection set are
 * fresh) and every webhook.subscribe_refresh_s, one workspace after another
 * (each with its own base URL and token): list GET /unified/webhook page by
 * page (limit/offset, one page in flight), then plan (coord_sub_plan: a sort
 * and a binary search per wanted subscription) and apply: POST the missing,
 * DELETE the owned ones nobody wants, at most MAX_IN_FLIGHT at once and
 * MAX_STARTS per loop turn, so a hundred thousand connections never hold
 * the loop up for long: the plan of one pass is the longest step (about
 * 150 ms for 200,000 subscriptions), and SIGTERM is still seen within a turn.
 * After a 429, 5xx or timeout on a create or delete the pass starts no more. A failed or malformed
 * list page ends the workspace's pass before any change: nothing is
 * created or deleted from a partial list; it is logged, counted and tried
 * again RETRY_MS later. A second pass with nothing changed sends only the
 * list requests.
 *
 * A connection is covered while each of its wanted subscriptions is kept
 * and healthy (is_healthy); its scopes are then polled every
 * webhook.reconcile_interval_s (coord_scope_interval).
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_err.h"
#include "ls_grow.h"
#include "ls_log.h"
#include "ls_scope.h"
#include "ls_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 100
#define MAX_IN_FLIGHT 8          /* creates and deletes at once */
#define MAX_STARTS 8             /* creates and deletes started per loop turn */
#define RETRY_MS 30000           /* a failed pass is tried again this much later (or at the refresh, if sooner) */
#define MAX_LIST_OFFSET 10000000L

enum { OP_LIST, OP_CREATE, OP_DELETE };
typedef enum { PH_IDLE, PH_LIST, PH_APPLY } phase_t;

typedef struct coord_subs {
    phase_t phase;
    int ws;                      /* the workspace of this pass (index in cfg->workspaces) */
    int failed;                  /* a list page of this workspace failed */
    long offset;                 /* next list page */
    coord_sub_have_t *have;      /* listed (id and conn strdup'ed) */
    size_t n_have, cap_have;
    coord_sub_want_t *want;      /* conn: the qualified id (strdup'ed) + qoff = the id within the workspace */
    size_t n_want, qoff;
    size_t next_want, next_have; /* apply cursors: creates, then deletes */
    size_t in_flight;
    uint32_t gen_done;           /* discovery generation the last pass followed */
    int64_t next_ms;             /* next pass at the latest */
    int64_t kinds[LS_MAX_WORKSPACES][2]; /* owned subscriptions kept, per workspace and kind (the gauge's sum) */
} coord_subs_t;

static const char *const events[COORD_SUB_EVENTS] = {"created", "updated"};

const char *coord_sub_event_name(unsigned event)
{
    return event < COORD_SUB_EVENTS ? events[event] : NULL;
}

/* ---- the plan (pure) ---- */

static int have_cmp(const void *a, const void *b)
{
    const coord_sub_have_t *x = a, *y = b;
    int r = strcmp(x->conn, y->conn);
    if (r == 0)
        r = (int)x->event - (int)y->event;
    if (r == 0)
        r = (int)y->healthy - (int)x->healthy; /* healthy first: kept over an unhealthy duplicate */
    return r != 0 ? r : strcmp(x->id, y->id);
}

/* The first listed subscription of (conn, event) in the sorted have, or nh. */
static size_t have_first(const coord_sub_have_t *have, size_t nh, const char *conn, unsigned event)
{
    size_t lo = 0, hi = nh;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(have[mid].conn, conn);
        if (r < 0 || (r == 0 && have[mid].event < event))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether h can serve w; a listing that omits webhook_type or interval is taken at its word (no churn). */
static int have_fits(const coord_sub_have_t *h, const coord_sub_want_t *w, int interval_min)
{
    return h->owned && h->action != COORD_SUB_KEEP && (h->kind == w->kind || h->kind == COORD_SUB_NONE) &&
           (w->kind != COORD_SUB_VIRTUAL || h->interval == 0 || h->interval == interval_min);
}

void coord_sub_plan(coord_sub_want_t *want, size_t nw, coord_sub_have_t *have, size_t nh, int interval_min)
{
    if (nh)
        qsort(have, nh, sizeof(*have), have_cmp);
    for (size_t i = 0; i < nh; i++) {
        have[i].action = COORD_SUB_FOREIGN;
        if (i && strcmp(have[i].id, have[i - 1].id) == 0)
            have[i].owned = 0; /* one subscription listed twice (pages that overlap): never a duplicate to delete */
    }
    for (size_t i = 0; i < nw; i++) {
        coord_sub_want_t *w = &want[i];
        w->have = -1;
        for (size_t k = have_first(have, nh, w->conn, w->event);
             k < nh && w->event == have[k].event && strcmp(have[k].conn, w->conn) == 0; k++)
            if (have_fits(&have[k], w, interval_min)) {
                have[k].action = COORD_SUB_KEEP;
                w->have = (int32_t)k;
                break;
            }
    }
    for (size_t i = 0; i < nh; i++)
        if (have[i].owned && have[i].action != COORD_SUB_KEEP)
            have[i].action = COORD_SUB_DELETE;
}

coord_sub_kind_t coord_sub_kind_for(const char *mode, const ls_obj_profile_t *a, char *why, size_t whysz)
{
    int virt = strcmp(mode, "native+virtual") == 0;
    if (strcmp(mode, "off") == 0) {
        snprintf(why, whysz, "webhook.subscribe = off");
        return COORD_SUB_NONE;
    }
    if (!a->webhooks_known) {
        snprintf(why, whysz, "the integration's lms_activity webhook kinds are unknown");
        return COORD_SUB_NONE;
    }
    if (a->webhooks & LS_WH_NATIVE) {
        snprintf(why, whysz, "the integration has native lms_activity webhooks (webhook.subscribe = %s)", mode);
        return COORD_SUB_NATIVE;
    }
    if (virt && (a->webhooks & LS_WH_VIRTUAL)) {
        snprintf(why, whysz, "no native lms_activity webhooks; virtual ones (webhook.subscribe = native+virtual)");
        return COORD_SUB_VIRTUAL;
    }
    snprintf(why, whysz, "the integration has no %slms_activity webhooks%s", virt ? "" : "native ",
             virt ? "" : " (webhook.subscribe = native)");
    return COORD_SUB_NONE;
}

/* ---- state ---- */

static void pass_clear(coord_subs_t *s)
{
    for (size_t i = 0; i < s->n_have; i++) {
        free((char *)s->have[i].id);
        free((char *)s->have[i].conn);
    }
    for (size_t i = 0; i < s->n_want; i++)
        free((char *)s->want[i].conn - s->qoff);
    free(s->have);
    free(s->want);
    s->have = NULL;
    s->want = NULL;
    s->n_have = s->cap_have = s->n_want = s->next_want = s->next_have = 0;
}

void coord_subscribe_release(coord_t *c)
{
    if (!c->subs)
        return;
    pass_clear(c->subs);
    free(c->subs);
    c->subs = NULL;
}

static void error_count(void)
{
    ls_metric_add(CM_WEBHOOK_SUB_ERRORS, 0, 0, 1);
}

static void gauge_update(const coord_t *c)
{
    int64_t k[2] = {0, 0};
    for (int i = 0; i < c->cfg->n_workspaces; i++) {
        k[0] += c->subs->kinds[i][0];
        k[1] += c->subs->kinds[i][1];
    }
    ls_metric_set(CM_WEBHOOK_SUBS, CM_WH_NATIVE, 0, k[0]);
    ls_metric_set(CM_WEBHOOK_SUBS, CM_WH_VIRTUAL, 0, k[1]);
}

static const char *ws_label(const coord_t *c, int ws)
{
    return ls_workspace_label(c->cfg->workspaces[ws].name);
}

/* ---- listing ---- */

static int list_page(coord_t *c)
{
    char url[2048];
    coord_subs_t *s = c->subs;
    snprintf(url, sizeof(url), "%s/unified/webhook?limit=%d&offset=%ld", c->cfg->workspaces[s->ws].base_url, PAGE,
             s->offset);
    if (coord_webhook_request(c, s->ws, "GET", url, NULL, OP_LIST, s->offset) != LS_OK)
        return LS_ENOMEM;
    s->in_flight++;
    return LS_OK;
}

static unsigned event_index(const char *object, const char *event)
{
    if (!object || strcmp(object, "lms_activity") != 0 || !event)
        return COORD_SUB_EVENT_OTHER;
    for (unsigned i = 0; i < COORD_SUB_EVENTS; i++)
        if (strcmp(event, events[i]) == 0)
            return i;
    return COORD_SUB_EVENT_OTHER;
}

static coord_sub_kind_t kind_of(const char *type)
{
    return !type ? COORD_SUB_NONE : strcmp(type, "native") == 0 ? COORD_SUB_NATIVE
                                  : strcmp(type, "virtual") == 0 ? COORD_SUB_VIRTUAL : COORD_SUB_NONE;
}

/* One listed Webhook object into *h (id and conn strdup'ed). @return 0, LS_EINVAL (no usable id), LS_ENOMEM. */
static int have_read(json_t *o, const char *hook_url, coord_sub_have_t *h)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *conn = json_string_value(json_object_get(o, "connection_id"));
    const char *url = json_string_value(json_object_get(o, "hook_url"));
    json_t *iv = json_object_get(o, "interval");
    if (!id || !id[0] || !conn)
        return LS_EINVAL;
    memset(h, 0, sizeof(*h));
    h->event = (uint8_t)event_index(json_string_value(json_object_get(o, "object_type")),
                                    json_string_value(json_object_get(o, "event")));
    h->kind = (uint8_t)kind_of(json_string_value(json_object_get(o, "webhook_type")));
    h->owned = url && strcmp(url, hook_url) == 0;
    h->healthy = !json_is_false(json_object_get(o, "is_healthy")) && !json_is_true(json_object_get(o, "is_paused"));
    h->interval = json_is_number(iv) ? (int32_t)json_number_value(iv) : 0;
    h->id = strdup(id);
    h->conn = strdup(conn);
    return h->id && h->conn ? LS_OK : LS_ENOMEM;
}

/* Append a page's subscriptions. @return the page's element count, or LS_EINVAL / LS_ENOMEM with err set. */
static long have_add_page(coord_t *c, const char *body, size_t len, char *err, size_t errsz)
{
    coord_subs_t *s = c->subs;
    json_error_t je;
    json_t *arr = json_loadb(body, len, 0, &je), *o;
    size_t i;
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "webhook list is not a JSON array%s%s", arr ? "" : ": ", arr ? "" : je.text);
        ls_err_printable(err);
        json_decref(arr);
        return LS_EINVAL;
    }
    long n = (long)json_array_size(arr);
    json_array_foreach(arr, i, o) {
        coord_sub_have_t *a = ls_grow(s->have, &s->cap_have, s->n_have, sizeof(*a), 256);
        if (!a)
            break;
        s->have = a;
        int rc = have_read(o, c->cfg->webhook_hook_url, &s->have[s->n_have]);
        if (rc == LS_OK)
            s->n_have++;
        else if (rc == LS_EINVAL)
            ls_warn("webhook list entry %ld skipped: no usable 'id' or 'connection_id'", s->offset + (long)i);
        if (rc == LS_ENOMEM) {
            free((char *)s->have[s->n_have].id);
            free((char *)s->have[s->n_have].conn);
            break;
        }
    }
    json_decref(arr);
    if (i < (size_t)n) {
        snprintf(err, errsz, "out of memory");
        return LS_ENOMEM;
    }
    return n;
}

/* ---- the wanted set ---- */

typedef struct want_sink {
    coord_t *c;
    size_t cap;
    int oom;
} want_sink_t;

static int want_push(coord_subs_t *s, want_sink_t *k, const char *qid, coord_sub_kind_t kind)
{
    for (unsigned e = 0; e < COORD_SUB_EVENTS; e++) {
        coord_sub_want_t *a = ls_grow(s->want, &k->cap, s->n_want, sizeof(*a), 256);
        if (!a)
            return LS_ENOMEM;
        s->want = a;
        char *q = strdup(qid);
        if (!q)
            return LS_ENOMEM;
        s->want[s->n_want++] = (coord_sub_want_t){q + s->qoff, (uint8_t)e, (uint8_t)kind, -1};
    }
    return LS_OK;
}

/* Every connection of the pass's workspace: its coverage is cleared; a wanted one adds its subscriptions. */
static int want_one(const char *name, void *value, void *ud)
{
    want_sink_t *k = ud;
    coord_t *c = k->c;
    coord_subs_t *s = c->subs;
    coord_conn_t *conn = value;
    char why[160];
    if (conn->ws != s->ws || k->oom)
        return 0;
    conn->wh_was = conn->wh_healthy >= COORD_SUB_EVENTS;
    conn->wh_kind = COORD_SUB_NONE;
    conn->wh_healthy = 0;
    const ls_profile_t *p = coord_conn_profile(c, conn);
    coord_sub_kind_t kind = p ? coord_sub_kind_for(c->cfg->webhook_subscribe, &p->obj[LS_OBJ_ACTIVITY], why,
                                                  sizeof(why)) : COORD_SUB_NONE;
    if (!p)
        k->oom = 1;
    else if (kind != COORD_SUB_NONE && want_push(s, k, name, kind) != LS_OK)
        k->oom = 1;
    return 0;
}

/* A kept healthy subscription covers one event of its connection. */
static void cover(coord_t *c, const coord_sub_want_t *w, int healthy)
{
    coord_conn_t *conn = ls_strmap_get(c->conns, w->conn - c->subs->qoff);
    if (!conn)
        return;
    conn->wh_kind = w->kind;
    conn->wh_healthy += healthy && conn->wh_healthy < COORD_SUB_EVENTS;
    c->subs->kinds[c->subs->ws][w->kind == COORD_SUB_VIRTUAL]++;
}

typedef struct uncover_sink {
    coord_t *c;
    size_t n;
    int64_t now;
} uncover_sink_t;

/* A connection of the pass's workspace that was covered and is not now is polled at its normal interval again. */
static int uncover_one(const char *name, void *value, void *ud)
{
    uncover_sink_t *k = ud;
    coord_conn_t *conn = value;
    (void)name;
    if (conn->ws == k->c->subs->ws && conn->wh_was && conn->wh_healthy < COORD_SUB_EVENTS) {
        coord_conn_uncovered(k->c, conn, k->now);
        k->n++;
    }
    conn->wh_was = 0;
    return 0;
}

/* The list is complete: what to create and delete; coverage from what is kept. */
static void plan_start(coord_t *c)
{
    coord_subs_t *s = c->subs;
    want_sink_t k = {c, 0, 0};
    const char *wsname = c->cfg->workspaces[s->ws].name;
    s->qoff = wsname[0] ? strlen(wsname) + 1 : 0;
    ls_strmap_sweep(c->conns, want_one, &k);
    if (k.oom) {
        ls_error("webhook subscriptions of workspace \"%s\" not reconciled: out of memory", ws_label(c, s->ws));
        error_count();
        s->failed = 1;
        return;
    }
    coord_sub_plan(s->want, s->n_want, s->have, s->n_have, c->cfg->webhook_virtual_interval_min);
    s->kinds[s->ws][0] = s->kinds[s->ws][1] = 0;
    size_t creates = 0, deletes = 0;
    for (size_t i = 0; i < s->n_want; i++)
        if (s->want[i].have >= 0)
            cover(c, &s->want[i], s->have[s->want[i].have].healthy);
        else
            creates++;
    for (size_t i = 0; i < s->n_have; i++)
        deletes += s->have[i].action == COORD_SUB_DELETE;
    uncover_sink_t u = {c, 0, ls_time_now_ms()};
    ls_strmap_sweep(c->conns, uncover_one, &u);
    if (u.n)
        ls_info("webhook subscriptions of workspace \"%s\": %zu connections not covered any more, polled every "
                "coordinator.interval_s again", ws_label(c, s->ws), u.n);
    gauge_update(c);
    s->phase = PH_APPLY;
    if (creates || deletes)
        ls_info("webhook subscriptions of workspace \"%s\": %zu listed, %zu wanted; creating %zu, deleting %zu",
                ws_label(c, s->ws), s->n_have, s->n_want, creates, deletes);
}

/* ---- applying ---- */

static char *create_body(const coord_t *c, const coord_sub_want_t *w)
{
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s}", "connection_id", w->conn, "object_type", "lms_activity", "event",
                          events[w->event], "hook_url", c->cfg->webhook_hook_url, "webhook_type",
                          w->kind == COORD_SUB_NATIVE ? "native" : "virtual");
    if (b && w->kind == COORD_SUB_VIRTUAL)
        json_object_set_new(b, "interval", json_integer(c->cfg->webhook_virtual_interval_min));
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return text;
}

static int start_create(coord_t *c, size_t i)
{
    coord_subs_t *s = c->subs;
    char url[2048];
    char *body = create_body(c, &s->want[i]);
    snprintf(url, sizeof(url), "%s/unified/webhook", c->cfg->workspaces[s->ws].base_url);
    int rc = body ? coord_webhook_request(c, s->ws, "POST", url, body, OP_CREATE, (long)i) : LS_ENOMEM;
    free(body);
    return rc;
}

static int start_delete(coord_t *c, size_t i)
{
    coord_subs_t *s = c->subs;
    char url[2048], esc[3 * LS_STR_MAX + 1];
    if (ls_http_escape(s->have[i].id, esc, sizeof(esc)) != LS_OK)
        return LS_EINVAL;
    snprintf(url, sizeof(url), "%s/unified/webhook/%s", c->cfg->workspaces[s->ws].base_url, esc);
    return coord_webhook_request(c, s->ws, "DELETE", url, NULL, OP_DELETE, (long)i);
}

/* Start up to MAX_STARTS creates/deletes this turn (MAX_IN_FLIGHT at once). @return 1 when everything was started. */
static int apply_some(coord_t *c)
{
    coord_subs_t *s = c->subs;
    if (s->failed)
        return 1; /* Unified said 429 or 5xx: the rest waits for the next pass */
    for (int n = 0; n < MAX_STARTS && s->in_flight < MAX_IN_FLIGHT;) {
        int rc;
        if (s->next_want < s->n_want) {
            size_t i = s->next_want++;
            if (s->want[i].have >= 0)
                continue;
            rc = start_create(c, i);
        } else if (s->next_have < s->n_have) {
            size_t i = s->next_have++;
            if (s->have[i].action != COORD_SUB_DELETE)
                continue;
            rc = start_delete(c, i);
        } else {
            return 1;
        }
        n++;
        if (rc == LS_OK)
            s->in_flight++;
        else
            error_count();
    }
    return s->next_want == s->n_want && s->next_have == s->n_have;
}

/* ---- passes ---- */

static void pass_next_ws(coord_t *c, int64_t now)
{
    coord_subs_t *s = c->subs;
    int failed = s->failed;
    pass_clear(s);
    s->failed = 0;
    s->offset = 0;
    if (++s->ws < c->cfg->n_workspaces && list_page(c) == LS_OK) {
        s->phase = PH_LIST;
        return;
    }
    int64_t refresh = (int64_t)c->cfg->webhook_subscribe_refresh_s * 1000;
    s->phase = PH_IDLE;
    s->next_ms = now + (failed && RETRY_MS < refresh ? RETRY_MS : refresh);
}

static void pass_begin(coord_t *c, int64_t now)
{
    coord_subs_t *s = c->subs;
    s->gen_done = c->disco.gen;
    s->ws = -1;
    s->failed = 0;
    if (!c->runtime) { /* capabilities unknown: a wrong wanted set could delete what is right */
        ls_warn("webhook subscriptions not reconciled: no answer from GET /unified/integration yet (%s)",
                c->runtime_why[0] ? c->runtime_why : "none");
        error_count();
        s->ws = c->cfg->n_workspaces;
        s->failed = 1;
    }
    pass_next_ws(c, now);
}

void coord_subscribe_turn(coord_t *c, int64_t now)
{
    if (strcmp(c->cfg->webhook_subscribe, "off") == 0)
        return;
    if (!c->subs && !(c->subs = calloc(1, sizeof(*c->subs))))
        return;
    coord_subs_t *s = c->subs;
    if (s->phase == PH_IDLE) {
        /* after a discovery (profiles and connections are fresh), and every webhook.subscribe_refresh_s */
        if (c->disco.gen > 0 && !c->disco.active && (c->disco.gen != s->gen_done || now >= s->next_ms))
            pass_begin(c, now);
        return;
    }
    if (s->phase == PH_APPLY && apply_some(c) && s->in_flight == 0)
        pass_next_ws(c, now);
}

static void on_list(coord_t *c, int rc, const ls_http_resp_t *resp, const char *err, int64_t now)
{
    coord_subs_t *s = c->subs;
    char perr[512];
    long n = rc == LS_OK ? have_add_page(c, resp->body, resp->len, perr, sizeof(perr)) : rc;
    if (n < 0) {
        ls_error("webhook subscriptions of workspace \"%s\" not reconciled: list at offset %ld failed: %s",
                 ws_label(c, s->ws), s->offset, rc != LS_OK ? err : perr);
        error_count();
        s->failed = 1;
        pass_next_ws(c, now);
        return;
    }
    s->offset += PAGE;
    if (n >= PAGE && s->offset < MAX_LIST_OFFSET && list_page(c) == LS_OK)
        return;
    if (n >= PAGE) { /* more pages, but no request: never plan on a partial list */
        ls_error("webhook subscriptions of workspace \"%s\" not reconciled: list not complete at offset %ld",
                 ws_label(c, s->ws), s->offset);
        error_count();
        s->failed = 1;
        pass_next_ws(c, now);
        return;
    }
    plan_start(c);
    if (s->failed)
        pass_next_ws(c, now);
}

/* A 429, 5xx or timeout on a create or delete ends the pass's changes (retried at the next pass). */
static const char *transient_note(coord_subs_t *s, int rc)
{
    if (rc != LS_ETRANSIENT || s->failed)
        return "";
    s->failed = 1;
    return "; no further creates or deletes in this pass";
}

static void on_create(coord_t *c, long i, int rc, const ls_http_resp_t *resp, const char *err)
{
    coord_subs_t *s = c->subs;
    const coord_sub_want_t *w = &s->want[i];
    json_error_t je;
    json_t *o = rc == LS_OK ? json_loadb(resp->body, resp->len, 0, &je) : NULL;
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id) {
        ls_error("webhook subscription (%s, %s) of connection \"%s\" not created: %s%s", events[w->event],
                 w->kind == COORD_SUB_NATIVE ? "native" : "virtual", w->conn - s->qoff,
                 rc != LS_OK ? err : "the answer names no webhook id", transient_note(s, rc));
        error_count();
    } else {
        ls_info("webhook subscription %s created: %s %s of connection \"%s\"", id,
                w->kind == COORD_SUB_NATIVE ? "native" : "virtual", events[w->event], w->conn - s->qoff);
        ls_metric_add(CM_WEBHOOK_SUB_CHANGES, CM_WH_CREATED, 0, 1);
        cover(c, w, !json_is_false(json_object_get(o, "is_healthy")));
        gauge_update(c);
    }
    json_decref(o);
}

static void on_delete(coord_t *c, long i, int rc, const char *err)
{
    const coord_sub_have_t *h = &c->subs->have[i];
    if (rc != LS_OK && rc != LS_ENOTFOUND) {
        ls_error("webhook subscription %s of connection \"%s\" not deleted: %s%s", h->id, h->conn, err,
                 transient_note(c->subs, rc));
        error_count();
        return;
    }
    ls_info("webhook subscription %s of connection \"%s\" deleted (owned, not wanted)%s", h->id, h->conn,
            rc == LS_ENOTFOUND ? ": it was gone already" : "");
    if (rc == LS_OK)
        ls_metric_add(CM_WEBHOOK_SUB_CHANGES, CM_WH_DELETED, 0, 1);
}

void coord_subscribe_done(coord_t *c, int ws, int op, long arg, int rc, const ls_http_resp_t *resp, const char *err,
                          int64_t now)
{
    coord_subs_t *s = c->subs;
    if (!s || ws != s->ws || s->phase == PH_IDLE)
        return;
    s->in_flight--;
    if (op == OP_LIST)
        on_list(c, rc, resp, err, now);
    else if (op == OP_CREATE)
        on_create(c, arg, rc, resp, err);
    else
        on_delete(c, arg, rc, err);
}

/* ---- --explain ---- */

/* Print what GET /unified/webhook?connection_id= lists for the connection (owned ones marked). */
static void explain_listed(const ls_config_t *cfg, ls_http_t *http, const char *conn_id, FILE *out)
{
    char url[2048], esc[3 * LS_STR_MAX + 1], err[512];
    ls_http_resp_t resp;
    if (ls_http_escape(conn_id, esc, sizeof(esc)) != LS_OK)
        return;
    snprintf(url, sizeof(url), "%s/unified/webhook?connection_id=%s&limit=%d", cfg->unified_base_url, esc, PAGE);
    int rc = ls_http_get(http, url, &resp, err, sizeof(err));
    json_t *arr = rc == LS_OK ? json_loadb(resp.body, resp.len, 0, NULL) : NULL, *o;
    size_t i, owned = 0;
    if (!json_is_array(arr)) {
        fprintf(out, "  %-10s cannot list its subscriptions: %s\n", "", rc != LS_OK ? err : "not a JSON array");
        json_decref(arr);
        return;
    }
    json_array_foreach(arr, i, o) {
        coord_sub_have_t h = {0};
        const char *type = json_string_value(json_object_get(o, "webhook_type")), *ev;
        if (have_read(o, cfg->webhook_hook_url, &h) == LS_OK) {
            owned += h.owned;
            ev = coord_sub_event_name(h.event);
            fprintf(out, "  %-10s %s: %s %s, %s, %s\n", "", h.id, type ? type : "?", ev ? ev : "(other object/event)",
                    h.healthy ? "healthy" : "not healthy", h.owned ? "lmsync's (hook_url = webhook.hook_url)" : "foreign");
        }
        free((char *)h.id);
        free((char *)h.conn);
    }
    fprintf(out, "  %-10s %s\n", "", owned ? "scopes of a covered connection are polled every webhook.reconcile_interval_s"
                                            : "none of lmsync's yet: the leader creates them at its next pass");
    json_decref(arr);
}

void coord_subscribe_explain(const ls_config_t *cfg, ls_http_t *http, const char *conn_id, const ls_profile_t *p,
                             FILE *out)
{
    char why[160];
    coord_sub_kind_t k = coord_sub_kind_for(cfg->webhook_subscribe, &p->obj[LS_OBJ_ACTIVITY], why, sizeof(why));
    fprintf(out, "  %-10s %s: %s\n", "subscribed", k == COORD_SUB_NATIVE ? "native" : k == COORD_SUB_VIRTUAL ? "virtual" : "none",
            why);
    if (k != COORD_SUB_NONE)
        explain_listed(cfg, http, conn_id, out);
}
