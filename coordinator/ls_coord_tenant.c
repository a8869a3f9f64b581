/*
 * ls_coord_tenant.c - per-tenant ready queues for fair sharing of the job
 * stream (deficit round robin, ls_coord.c serves them).
 *
 * A tenant is a connection's external_xref ("" is one tenant too), or what
 * coordinator.tenant_map names for its id or integration type. A due
 * scope leaves the timer heap for its tenant's FIFO (an intrusive doubly
 * linked list: O(1) push, pop and unlink when a scope disappears); tenants
 * with a non-empty queue are in the active ring. Weights come from
 * coordinator.tenant_weights ("t1=4,t2=0.5,*=1"; default 1). A tenant may
 * have a request budget (coordinator.tenant_budget, requests per minute): a
 * bucket (ls_bucket_t) refilled continuously, from which each released job
 * takes its scope's last request count.
 */
#include "ls_coord_int.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Walk "name=value,..." of setting key calling fn for each entry; @return LS_EINVAL with err set on an entry
 * without a name or a value, or whose value is not a number in (0, max] (max 0: any text). */
static int each_entry(const char *spec, const char *key, double max, const char *form,
                      int (*fn)(const char *name, size_t len, const char *val, size_t vlen, double w, void *ud),
                      void *ud, char *err, size_t errsz)
{
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        char num[32], *end;
        size_t nl = eq ? (size_t)(p + len - eq - 1) : 0;
        double w = max > 0 ? 0 : 1;
        if (max > 0 && eq && eq > p && nl > 0 && nl < sizeof(num)) {
            memcpy(num, eq + 1, nl);
            num[nl] = '\0';
            w = strtod(num, &end);
            if (*end)
                w = 0;
        }
        if (!eq || eq == p || nl == 0 || !(w > 0 && (max == 0 || w <= max))) {
            snprintf(err, errsz, "setting '%s': entry \"%.*s\" is not %s", key, (int)(len > 80 ? 80 : len), p, form);
            return LS_EINVAL;
        }
        if (fn && fn(p, (size_t)(eq - p), eq + 1, nl, w, ud))
            return LS_OK;
        p += len + (p[len] == ',');
    }
    return LS_OK;
}

#define WEIGHT_MAX 1000.0
#define BUDGET_MAX 1e9
#define WEIGHT_FORM "NAME=WEIGHT (WEIGHT a number in (0, 1000])"
#define BUDGET_FORM "TENANT=RPM (RPM a number in (0, 1e9])"
#define MAP_FORM "KEY=TENANT"
#define HOURLY_FORM "TYPE=N (N requests per hour, a number in (0, 1e9])"

int coord_tenant_weights_check(const char *spec, char *err, size_t errsz)
{
    return each_entry(spec, "coordinator.tenant_weights", WEIGHT_MAX, WEIGHT_FORM, NULL, NULL, err, errsz);
}

int coord_tenant_budget_check(const char *spec, char *err, size_t errsz)
{
    return each_entry(spec, "coordinator.tenant_budget", BUDGET_MAX, BUDGET_FORM, NULL, NULL, err, errsz);
}

int coord_integration_budgets_check(const char *spec, char *err, size_t errsz)
{
    return each_entry(spec, "polling.integration_budgets", BUDGET_MAX, HOURLY_FORM, NULL, NULL, err, errsz);
}

int coord_tenant_map_check(const char *spec, char *err, size_t errsz)
{
    return each_entry(spec, "coordinator.tenant_map", 0, MAP_FORM, NULL, NULL, err, errsz);
}

typedef struct entry_q {
    const char *name;
    double w, star;
    const char *val;
    size_t vlen;
    int found;
} entry_q_t;

static int match_entry(const char *name, size_t len, const char *val, size_t vlen, double w, void *ud)
{
    entry_q_t *q = ud;
    if (len == 1 && name[0] == '*') {
        q->star = w;
    } else if (strlen(q->name) == len && memcmp(q->name, name, len) == 0) {
        q->w = w;
        q->val = val;
        q->vlen = vlen;
        q->found = 1;
        return 1;
    }
    return 0;
}

double coord_spec_value(const char *spec, const char *key, double max, const char *name, double dflt)
{
    char err[256];
    entry_q_t q = {name, dflt, dflt, NULL, 0, 0};
    each_entry(spec, key, max, "", match_entry, &q, err, sizeof(err));
    return q.found ? q.w : q.star;
}

const char *coord_tenant_name(const char *map, const char *qid, const char *id, const char *type, const char *xref,
                              char *buf, size_t bufsz)
{
    const char *keys[3] = {qid, id, type};
    char err[256];
    for (int i = 0; map[0] && i < 3; i++) {
        entry_q_t q = {keys[i], 0, 0, NULL, 0, 0};
        each_entry(map, "coordinator.tenant_map", 0, MAP_FORM, match_entry, &q, err, sizeof(err));
        if (q.found && q.vlen < bufsz) {
            memcpy(buf, q.val, q.vlen);
            buf[q.vlen] = '\0';
            return buf;
        }
    }
    return xref;
}

int coord_budget_take(coord_tenant_t *t, double cost, int64_t now)
{
    if (!ls_bucket_allows(&t->bucket, cost, now))
        return 0;
    ls_bucket_spend(&t->bucket, cost);
    return 1;
}

coord_tenant_t *coord_tenant_get(coord_t *c, const char *name)
{
    int added;
    coord_tenant_t *t = ls_strmap_put(c->tenants, name, &added);
    if (t && added) {
        t->weight = coord_spec_value(c->cfg->tenant_weights, "coordinator.tenant_weights", WEIGHT_MAX, name, 1.0);
        t->budget = coord_spec_value(c->cfg->tenant_budget, "coordinator.tenant_budget", BUDGET_MAX, name, 0.0);
        ls_bucket_init(&t->bucket, t->budget / 60.0, t->budget, 0); /* full at its first use */
        t->stretch = 1;
    }
    return t;
}

const char *coord_tenant_of(const coord_t *c, const coord_conn_t *conn)
{
    const char *name = conn->tenant ? ls_strmap_name(c->tenants, conn->tenant) : NULL;
    return name ? name : "";
}

static int activate(coord_t *c, coord_tenant_t *t)
{
    if (c->n_active == c->cap_active) {
        size_t cap = c->cap_active ? c->cap_active * 2 : 16;
        coord_tenant_t **a = realloc(c->active, cap * sizeof(*a));
        if (!a)
            return LS_ENOMEM;
        c->active = a;
        c->cap_active = cap;
    }
    c->active[c->n_active++] = t;
    t->active = 1;
    return LS_OK;
}

void coord_tenant_deactivate(coord_t *c, size_t i)
{
    c->active[i]->active = 0;
    c->active[i]->deficit = 0;
    c->active[i] = c->active[--c->n_active];
}

int coord_ready_push(coord_t *c, coord_scope_t *s)
{
    coord_tenant_t *t = s->conn->tenant;
    if (!t->active && activate(c, t) != LS_OK)
        return LS_ENOMEM;
    s->rq_next = NULL;
    s->rq_prev = t->tail;
    if (t->tail)
        t->tail->rq_next = s;
    else
        t->head = s;
    t->tail = s;
    t->n++;
    s->queued = 1;
    return LS_OK;
}

void coord_ready_unlink(coord_scope_t *s)
{
    if (!s->queued)
        return;
    coord_tenant_t *t = s->conn->tenant;
    if (s->rq_prev)
        s->rq_prev->rq_next = s->rq_next;
    else
        t->head = s->rq_next;
    if (s->rq_next)
        s->rq_next->rq_prev = s->rq_prev;
    else
        t->tail = s->rq_prev;
    s->rq_next = s->rq_prev = NULL;
    s->queued = 0;
    t->n--;
}

/* Apply fn to every scope of conn. */
static void each_scope(coord_conn_t *conn, void (*fn)(coord_t *c, coord_scope_t *s), coord_t *c)
{
    fn(c, conn->scope);
    for (uint32_t k = 0; k < conn->n_courses; k++)
        fn(c, conn->courses[k]);
}

static void take_out(coord_t *c, coord_scope_t *s)
{
    (void)c;
    if (s->queued) {
        coord_ready_unlink(s);
        s->queued = 2; /* to be queued again under the new tenant */
    }
}

static void put_back(coord_t *c, coord_scope_t *s)
{
    if (s->queued == 2) {
        s->queued = 0;
        if (coord_ready_push(c, s) != LS_OK)
            ls_coord_heap_set(&c->heap, &s->t, s->t.due_ms); /* out of memory: due again next turn */
    }
}

void coord_conn_set_tenant(coord_t *c, coord_conn_t *conn, coord_tenant_t *t)
{
    if (conn->tenant)
        each_scope(conn, take_out, c);
    conn->tenant = t;
    if (conn->scope)
        each_scope(conn, put_back, c);
}
