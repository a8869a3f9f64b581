/*
 * ls_coord_tenant.c - per-tenant ready queues for fair sharing of the job
 * stream (deficit round robin, ls_coord.c serves them).
 *
 * A tenant is a connection's external_xref ("" is one tenant too). A due
 * scope leaves the timer heap for its tenant's FIFO (an intrusive doubly
 * linked list: O(1) push, pop and unlink when a scope disappears); tenants
 * with a non-empty queue are in the active ring. Weights come from
 * coordinator.tenant_weights ("t1=4,t2=0.5,*=1"; default 1).
 */
#include "ls_coord_int.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Walk "name=weight,..." calling fn for each entry; @return LS_EINVAL with err set on a malformed entry. */
static int each_weight(const char *spec, int (*fn)(const char *name, size_t len, double w, void *ud), void *ud,
                       char *err, size_t errsz)
{
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        char num[32], *end;
        size_t nl = eq ? (size_t)(p + len - eq - 1) : 0;
        double w = 0;
        if (eq && eq > p && nl > 0 && nl < sizeof(num)) {
            memcpy(num, eq + 1, nl);
            num[nl] = '\0';
            w = strtod(num, &end);
            if (*end)
                w = 0;
        }
        if (!(w > 0 && w <= 1000)) {
            snprintf(err, errsz, "setting 'coordinator.tenant_weights': entry \"%.*s\" is not NAME=WEIGHT "
                     "(WEIGHT a number in (0, 1000])", (int)(len > 80 ? 80 : len), p);
            return LS_EINVAL;
        }
        if (fn && fn(p, (size_t)(eq - p), w, ud))
            return LS_OK;
        p += len + (p[len] == ',');
    }
    return LS_OK;
}

int coord_tenant_weights_check(const char *spec, char *err, size_t errsz)
{
    return each_weight(spec, NULL, NULL, err, errsz);
}

typedef struct weight_q {
    const char *name;
    double w, star;
    int found;
} weight_q_t;

static int match_weight(const char *name, size_t len, double w, void *ud)
{
    weight_q_t *q = ud;
    if (len == 1 && name[0] == '*')
        q->star = w;
    else if (strlen(q->name) == len && memcmp(q->name, name, len) == 0) {
        q->w = w;
        q->found = 1;
        return 1;
    }
    return 0;
}

/* The weight of tenant name: its own entry, else "*", else 1. */
static double weight_of(const char *spec, const char *name)
{
    char err[256];
    weight_q_t q = {name, 1.0, 1.0, 0};
    each_weight(spec, match_weight, &q, err, sizeof(err));
    return q.found ? q.w : q.star;
}

coord_tenant_t *coord_tenant_get(coord_t *c, const char *xref)
{
    int added;
    coord_tenant_t *t = ls_strmap_put(c->tenants, xref, &added);
    if (t && added)
        t->weight = weight_of(c->cfg->tenant_weights, xref);
    return t;
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
