/*
 * ls_coord_int.h - the coordinator's state, shared by its modules
 * (ls_coord.c: schedule, jobs, status; ls_coord_list.c: connection and
 * course lists over concurrent HTTP). Not a public interface.
 *
 * Sizes: every scope is one ls_strmap entry (key "conn" or "conn/course",
 * value coord_scope_t) plus one heap slot; strings a connection shares with
 * others (integration type, external_xref) are interned once.
 */
#ifndef LS_COORD_INT_H
#define LS_COORD_INT_H

#include "ls_coord.h"
#include "ls_coord_adapt.h"
#include "ls_coord_heap.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_profile.h"
#include "ls_ratelimit.h"
#include "ls_strmap.h"

typedef struct coord_conn coord_conn_t;
typedef struct coord_scope coord_scope_t;

/* A tenant (value of coord_t.tenants, keyed by external_xref): its queue of due scopes. */
typedef struct coord_tenant {
    coord_scope_t *head, *tail;  /* due scopes waiting for a job, oldest first */
    size_t n;
    double weight;               /* coordinator.tenant_weights */
    double deficit;              /* deficit round robin: jobs it may still produce this round */
    int active;                  /* in coord_t.active */
    double budget;               /* coordinator.tenant_budget: requests per minute (0 = unlimited) */
    ls_bucket_t bucket;          /* request bucket: refilled at budget/60 per s, at most budget */
    double stretch;              /* polling.adaptive: factor on its scopes' intervals that fits the budget (>= 1) */
    ls_adapt_load_t *load;       /* its scopes' demand, summed by the gauge walk (owned; budgeted tenants only) */
} coord_tenant_t;

/* The schedule of one scope (a whole connection, or one course of it). */
struct coord_scope {
    ls_coord_timer_t t;       /* next due (wall clock), queued in coord_t.heap (or in its tenant's queue once due) */
    coord_conn_t *conn;       /* borrowed: the connection owns its scopes */
    coord_scope_t *rq_prev, *rq_next; /* its tenant's queue of due scopes */
    int64_t job_due_ms;       /* scheduled_at of the job enqueued and not yet reported (its id is "key@due"); 0 = none */
    int64_t job_since_ms;     /* when it was produced */
    int64_t last_full_ms;     /* when the last full scan reported ok (0 = never, so the next job is full) */
    int64_t last_ok_ms;       /* when a job last reported ok (the coordinator's start until one does) */
    int64_t polled_ok_ms;     /* when a job last reported ok to this coordinator process (0 = none yet) */
    int64_t records;          /* records of the last ok full scan (-1 = unknown) */
    int32_t failures;         /* consecutive failed jobs */
    int32_t since_full;       /* incremental jobs reported ok since the last full scan */
    uint8_t sending;          /* produced, delivery report not seen yet */
    uint8_t mark;             /* course list refresh mark */
    uint8_t queued;           /* in its tenant's queue */
    uint8_t reports;          /* produced jobs pointing at it whose delivery report is still to come */
    uint32_t requests;        /* upstream requests of its last reported job (0 = unknown): the next job's cost */
    int64_t epoch;            /* leader epoch of the schedule record it was restored from (0 = none; ls_coord_persist.c) */
    uint32_t ival_ms;         /* polling.adaptive: desired interval (ls_adapt_next; 0 = not set yet) */
    uint8_t why_rule;         /* ls_ival_why_t the rule gave (active, quiet, max) */
    uint8_t why;              /* ls_ival_why_t of the interval last scheduled */
    uint8_t waited;           /* its job is held by a request budget (a wait is counted once) */
};

/* A connection (value of coord_t.conns; its id is the entry's name). */
struct coord_conn {
    coord_scope_t *scope;        /* the whole-connection scope; for a fanned-out connection it only paces the course refresh */
    const char *integration_type; /* interned */
    const char *external_xref;    /* interned ("" when none) */
    coord_tenant_t *tenant;      /* the tenant of external_xref */
    coord_scope_t **courses;     /* owned array of course scopes (entries of coord_t.scopes) */
    uint32_t n_courses, cap_courses;
    int32_t strategy;            /* index in coord_t.strats, -1 = not chosen yet */
    uint32_t seen_gen;           /* discovery generation that last listed it */
    int64_t next_courses_ms;     /* next course list refresh */
    uint8_t fanout;              /* polled per course */
    uint8_t courses_busy;        /* a course list fetch is under way */
    uint8_t course_mark;         /* mark of the fetch under way */
    uint8_t courses_failed;      /* the last course list fetch failed (the known courses are kept) */
    uint8_t ws;                  /* index in cfg->workspaces; the map key is the qualified id (ls_conn_qualify) */
    uint8_t wh_kind;             /* webhook subscription kind lmsync keeps for it (coord_sub_kind_t) */
    uint8_t wh_healthy;          /* its owned subscriptions that Unified says are healthy (one per event when covered) */
    uint8_t wh_was;              /* it was covered before the reconciler's pass now under way */
};

/* A strategy shared by connections of one type (or one connection, with its own overrides). */
typedef struct strat_entry {
    char key[LS_STR_MAX + 2];    /* integration type, or "#" + connection id */
    ls_profile_t profile;
    ls_strategy_t strategy;
} strat_entry_t;

/* One connection listing pass (pages requested concurrently). */
typedef struct coord_disco {
    int active;
    uint32_t gen;
    long next_offset;            /* next page to ask for */
    int end_seen;                /* a short page was seen: nothing past it */
    int failed;                  /* a page failed: the known set is kept */
    int profiles_pending;
    int ws;                      /* the workspace being listed (index in cfg->workspaces), one after another */
    size_t in_flight, pages, listed;
    int64_t started_ms;
} coord_disco_t;

typedef struct coord_send coord_send_t;

typedef struct coord {
    const ls_config_t *cfg;
    ls_producer_t *producer;
    ls_consumer_t *status;
    ls_http_multi_t *http;
    ls_http_cred_t *creds[LS_MAX_WORKSPACES]; /* per workspace: every request goes out with its workspace's */
    ls_strmap_t *conns;          /* id -> coord_conn_t */
    ls_strmap_t *scopes;         /* scope key -> coord_scope_t */
    ls_strmap_t *strings;        /* interned strings (value unused) */
    ls_coord_heap_t heap;        /* every scope that is not due yet, by next due */
    ls_strmap_t *tenants;        /* external_xref -> coord_tenant_t */
    coord_tenant_t **active;     /* tenants with due scopes (owned array) */
    size_t n_active, cap_active, rr;
    char topic_jobs[128], topic_status[128], topic_schedule[160], topic_leader[160];
    ls_consumer_t *election;     /* leader election group member (coordinator.leader_election), else NULL */
    int lead_assigned;           /* the group assigned this replica partition 0 */
    int leading;                 /* enqueuing: the schedule is loaded and the status consumer open */
    int64_t epoch;               /* this leadership term's epoch (wall clock ms at its start) */
    int64_t last_turn_mono;      /* when the loop last ran (stall detection) */
    int rejoin;                  /* coord_give_up(): close the election consumer and join again once not leading */
    int64_t next_discovery_ms;
    coord_disco_t disco;
    char **course_queue;         /* ids of connections whose course list is to be fetched (ring, owned) */
    size_t cq_head, cq_n, cq_cap;
    size_t course_fetches;       /* course list fetches under way */
    coord_send_t **sends;        /* jobs produced, delivery report not handled yet (owned) */
    size_t n_sends, cap_sends;
    double enqueue_tokens;       /* token bucket of coordinator.max_enqueue_per_s */
    int64_t tokens_ms;
    uint64_t enqueued, skipped, undelivered;
    ls_profile_t *runtime;       /* GET /unified/integration, n_runtime entries */
    size_t n_runtime;
    char runtime_why[256];       /* why there is no usable runtime answer ("" = there is) */
    strat_entry_t *strats;
    size_t n_strats;
    struct coord_catalog *catalog; /* catalog job schedule (ls_coord_catalog.c); NULL until its first turn */
    struct coord_ctl *ctl;       /* operator requests on <prefix>.control while leading (ls_coord_control.c), else NULL */
    struct coord_subs *subs;     /* webhook subscription reconciler (ls_coord_subscribe.c); NULL until its first turn */
    struct coord_budgets *budgets; /* adaptive intervals and request budgets (ls_coord_budget.c) */
} coord_t;

/* ---- ls_coord_list.c ---- */

/** The connection's id (borrowed from the map entry). */
const char *coord_conn_id(const coord_t *c, const coord_conn_t *conn);

/** The connection's id within its workspace, as Unified knows it (borrowed from the map entry). */
const char *coord_conn_raw_id(const coord_t *c, const coord_conn_t *conn);

/** Create c->creds from the configured workspaces. LS_ENOMEM when out of memory. */
int coord_creds_open(coord_t *c);

/** Destroy c->creds. */
void coord_creds_close(coord_t *c);

/** A scope's key (borrowed from the map entry). */
const char *coord_scope_key(const coord_t *c, const coord_scope_t *s);

/** Add or update one listed connection (discovery generation gen). NULL when out of memory. */
coord_conn_t *coord_conn_upsert(coord_t *c, const ls_coord_conn_t *l, uint32_t gen, int64_t now);

/** Start a listing pass (profiles, and connection pages unless the list is static). */
void coord_disco_begin(coord_t *c, int64_t now);

/** Ask for conn's course list (queued; fetched with bounded concurrency). */
void coord_courses_request(coord_t *c, coord_conn_t *conn);

/** Run the HTTP transfers for up to wait_ms and handle the completed ones. */
void coord_http_turn(coord_t *c, int wait_ms);

/**
 * Start a request of the webhook reconciler to workspace ws (method, url
 * under its base URL, body JSON or NULL; copied); its answer goes to
 * coord_subscribe_done(c, ws, op, arg, ...). @return 0, or LS_ENOMEM.
 */
int coord_webhook_request(coord_t *c, int ws, const char *method, const char *url, const char *body, int op, long arg);

/* ---- ls_coord.c ---- */

/**
 * Give a scope entry to conn and queue it: a restored entry (conn NULL, a due
 * time) keeps its schedule; a new one (zeroed) gets its first slot.
 */
void coord_scope_attach(coord_t *c, coord_scope_t *s, coord_conn_t *conn, const char *key, int64_t now);

/** Take a scope out of the heap and the map (not out of its connection's course array). */
void coord_scope_drop(coord_t *c, coord_scope_t *s);

/** Request the course list of every connection polled per course that has none yet. */
void coord_fanout_kick(coord_t *c);

/** New profiles: forget every chosen strategy (chosen again on next use). */
void coord_rechoose(coord_t *c);

/** Store a GET /unified/integration answer (or keep the last good one on error). */
void coord_set_profiles(coord_t *c, int rc, const ls_http_resp_t *resp, const char *err);

/** The capability profile of conn's strategy (borrowed until the next coord_rechoose); NULL when out of memory. */
const ls_profile_t *coord_conn_profile(coord_t *c, coord_conn_t *conn);

/** The interval (ms) between sc's polls: webhook.reconcile_interval_s when a subscription covers its connection. */
int64_t coord_scope_interval(const coord_t *c, const coord_scope_t *sc);

/** conn lost its webhook coverage: its scopes waiting for a later slot are due at their normal slot instead. */
void coord_conn_uncovered(coord_t *c, coord_conn_t *conn, int64_t now);

/* ---- ls_coord_subscribe.c ---- */

typedef enum { COORD_SUB_NONE = 0, COORD_SUB_NATIVE, COORD_SUB_VIRTUAL } coord_sub_kind_t;
#define COORD_SUB_EVENTS 2       /* lms_activity events subscribed per connection: created, updated */
#define COORD_SUB_EVENT_OTHER 255
typedef enum { COORD_SUB_FOREIGN = 0, COORD_SUB_KEEP, COORD_SUB_DELETE } coord_sub_action_t;

/** "created", "updated" (index < COORD_SUB_EVENTS), else NULL. */
const char *coord_sub_event_name(unsigned event);

/** One subscription lmsync wants. */
typedef struct coord_sub_want {
    const char *conn;            /* the connection's id within its workspace (borrowed) */
    uint8_t event, kind;         /* index of coord_sub_event_name; coord_sub_kind_t */
    int32_t have;                /* out: the listed subscription kept for it, -1 = to create */
} coord_sub_want_t;

/** One listed subscription. */
typedef struct coord_sub_have {
    const char *id, *conn;       /* borrowed */
    uint8_t event;               /* index of coord_sub_event_name; COORD_SUB_EVENT_OTHER for any other object/event */
    uint8_t kind;                /* coord_sub_kind_t (NONE when webhook_type is missing or unknown: fits any kind) */
    uint8_t owned;               /* its hook_url is webhook.hook_url */
    uint8_t healthy;
    int32_t interval;            /* minutes (virtual); 0 when not listed: fits any interval */
    uint8_t action;              /* out: coord_sub_action_t */
} coord_sub_have_t;

/**
 * The plan (pure): every want gets the owned listed subscription of its
 * connection, event and kind (virtual: also interval_min; a healthy one
 * first) or have = -1 (create it); owned subscriptions no want took are
 * DELETE (gone connection, other kind or interval, duplicate, other object
 * or event), the others FOREIGN (never touched; also a second listing of
 * one id). Sorts have.
 */
void coord_sub_plan(coord_sub_want_t *want, size_t nw, coord_sub_have_t *have, size_t nh, int interval_min);

/**
 * The subscription kind webhook.subscribe (mode) wants for a connection
 * whose activity profile is a; why receives the reason.
 */
coord_sub_kind_t coord_sub_kind_for(const char *mode, const ls_obj_profile_t *a, char *why, size_t whysz);

/** Reconcile the subscriptions when due (leader only; bounded work per turn). */
void coord_subscribe_turn(coord_t *c, int64_t now);

/** An answer to coord_webhook_request (resp borrowed for the call). */
void coord_subscribe_done(coord_t *c, int ws, int op, long arg, int rc, const ls_http_resp_t *resp, const char *err,
                          int64_t now);

/** Free the reconciler's state (the transfers died with c->http). */
void coord_subscribe_release(coord_t *c);

/** --explain: the connection's subscription kind, why, and what Unified lists for it (to out). */
void coord_subscribe_explain(const ls_config_t *cfg, ls_http_t *http, const char *conn_id, const ls_profile_t *p,
                             FILE *out);

/* ---- ls_coord_tenant.c ---- */

/** Check coordinator.tenant_weights. @return 0, or LS_EINVAL with the reason in err. */
int coord_tenant_weights_check(const char *spec, char *err, size_t errsz);

/** Check coordinator.tenant_budget. @return 0, or LS_EINVAL with the reason in err. */
int coord_tenant_budget_check(const char *spec, char *err, size_t errsz);

/** Check polling.integration_budgets. @return 0, or LS_EINVAL with the reason in err. */
int coord_integration_budgets_check(const char *spec, char *err, size_t errsz);

/** The number spec ("NAME=N,...,*=N", setting key, values in (0, max]) gives name: its entry, else "*", else dflt. */
double coord_spec_value(const char *spec, const char *key, double max, const char *name, double dflt);

/** Check coordinator.tenant_map. @return 0, or LS_EINVAL with the reason in err. */
int coord_tenant_map_check(const char *spec, char *err, size_t errsz);

/**
 * The tenant of a connection: coordinator.tenant_map's entry for its
 * qualified id, else for its id within its workspace, else for its
 * integration type, else xref. Borrowed from spec's copy in buf or xref.
 */
const char *coord_tenant_name(const char *map, const char *qid, const char *id, const char *type, const char *xref,
                              char *buf, size_t bufsz);

/** The name of conn's tenant (borrowed from coord_t.tenants; "" before it has one): the jobs' "tenant". */
const char *coord_tenant_of(const coord_t *c, const coord_conn_t *conn);

/** The tenant called name (created with its weight and budget); NULL when out of memory. */
coord_tenant_t *coord_tenant_get(coord_t *c, const char *name);

/**
 * Whether t's request budget lets a job of cost requests go at now (ms);
 * takes the cost when it does. A job costlier than the whole budget goes
 * when the bucket is full (the bucket goes into debt).
 */
int coord_budget_take(coord_tenant_t *t, double cost, int64_t now);

/** Append a due scope (out of the heap) to its tenant's queue; the tenant becomes active. */
int coord_ready_push(coord_t *c, coord_scope_t *s);

/** Take s out of its tenant's queue (no-op when not queued). */
void coord_ready_unlink(coord_scope_t *s);

/** Move conn (and its queued due scopes) to tenant t. */
void coord_conn_set_tenant(coord_t *c, coord_conn_t *conn, coord_tenant_t *t);

/** Remove active[i] from the active ring (its queue is empty). */
void coord_tenant_deactivate(coord_t *c, size_t i);

/* ---- ls_coord_leader.c ---- */

/** Join the leader election when coordinator.leader_election is set. */
int coord_election_open(coord_t *c);

/** Leave the election group. */
void coord_election_close(coord_t *c);
/**
 * End this replica's term at once (a stalled loop, a newer term seen): nothing more is enqueued from here on;
 * the main loop stops leading (lead_stop logs it), then the election consumer is closed and joined again (a
 * close can block while the group coordinator is slow to answer, so it comes after the log line).
 */
void coord_give_up(coord_t *c);

/**
 * Serve the election (waiting up to wait_ms) and say whether this replica
 * may lead now: always without an election; with one, while the group
 * assigns it partition 0, the assignment is not lost and the loop did not
 * stall (a stalled leader leaves and joins again).
 */
int coord_may_lead(coord_t *c, int wait_ms);

/* What a job of leader epoch seen, due at due_ms, says about a replica leading with epoch own. */
typedef enum {
    COORD_TERM_OK,      /* this term's, an earlier term's from before this one, or no epoch */
    COORD_TERM_NEWER,   /* a later term: another replica leads, and this one's term is older */
    COORD_TERM_OLDER_LIVE, /* an earlier term, but due after this term began: its leader still enqueues */
} coord_term_t;

/** The verdict (pure; clock skew between replicas up to COORD_SKEW_MS is tolerated). */
coord_term_t coord_term_verdict(int64_t own, int64_t seen, int64_t due_ms);
#define COORD_SKEW_MS 6000

/**
 * A status record of job (leader_epoch, job_id "key@due") arrived while
 * leading: on another term's job, log an error naming both epochs, count
 * lmsync_coordinator_split_brain_total, and step down when this term is
 * the older one. @return 1 when it stepped down.
 */
int coord_term_check(coord_t *c, const ls_job_t *job);

/**
 * The same verdict on any record of leader epoch seen (due at due_ms, 0 =
 * none): what names it ("job"), id its key, verb what that term did
 * ("enqueued"). Logs and counts as coord_term_check, whether or not this
 * replica leads yet (the schedule is read at the start of a term).
 * @return 1 when it stepped down.
 */
int coord_term_seen(coord_t *c, int64_t seen, int64_t due_ms, const char *what, const char *id, const char *verb);

/* ---- ls_coord_catalog.c ---- */

/** Enqueue the catalog jobs that are due (enrichment.enabled, every enrichment.refresh_s per connection). */
void coord_catalog_turn(coord_t *c, int64_t now);

/** Free the catalog schedule (after the producer is closed: no delivery report may still point at it). */
void coord_catalog_release(coord_t *c);
/**
 * The job sc would get now from its connection's strategy (job id
 * "scope@due", mode by the schedule). @return 0, LS_EINVAL when its
 * strategy says the connection is not polled, LS_ENOMEM when no strategy
 * could be made.
 */
int coord_job_for(coord_t *c, coord_scope_t *sc, int64_t now, ls_job_t *job);

/* ---- ls_coord_control.c ---- */

/** A leadership term starts: requests will be read (clients made by the first turn, retried on failure). */
void coord_control_open(coord_t *c);

/**
 * Serve operator requests, one at a time: a resync of a known connection
 * enqueues a full "resync" job per scope; the request's offset is committed
 * once those jobs are acknowledged (or once it is rejected).
 */
void coord_control_turn(coord_t *c, int64_t now);

/** Close the consumer and drop a request in progress (the next leader reads it again). NULL-safe. */
void coord_control_close(coord_t *c);

/* ---- ls_coord_budget.c ---- */

/** Check the polling settings and make c->budgets. @return 0, or LS_EINVAL / LS_ENOMEM with the reason in err. */
int coord_budgets_open(coord_t *c, char *err, size_t errsz);

/** Free c->budgets. NULL-safe. */
void coord_budgets_close(coord_t *c);

/** Free the tenants' load sums (before the tenant map goes). */
void coord_budgets_forget_tenants(coord_t *c);

/**
 * Whether sc's job may go at now under the deployment, integration and
 * tenant request budgets; takes its cost from each when it may. A refusal
 * is counted once per job (lmsync_coordinator_budget_waits_total{budget}).
 */
int coord_budget_admit(coord_t *c, coord_scope_t *sc, int64_t now);

/** The interval to wait before sc's next job (fixed, or adaptive and stretched); sets sc->why and observes it (after a job is produced). */
int64_t coord_interval_ms(coord_t *c, coord_scope_t *sc);

/**
 * An ok status record of sc's job (produced at since_ms) reporting events
 * changes: the rule, and sc moved to since_ms + its new interval (at least
 * now). Counted from the job's production, not its due time: a job a budget
 * held back does not make its scope due again at once.
 */
void coord_adapt_report(coord_t *c, coord_scope_t *sc, int64_t since_ms, uint64_t events, int64_t now);

/** The gauge walk: add one polled scope to the loads and the reasons' counts. */
void coord_budget_walk_scope(coord_t *c, const coord_scope_t *sc);

/** The walk is done: new stretch factors, the reason gauge, a shortfall logged at most once a minute. */
void coord_budget_walk_end(coord_t *c, int64_t now);

/** --explain: the interval rule and the budgets that apply to a connection of type, tenant tenant. */
void coord_adapt_explain(const ls_config_t *cfg, const char *type, const char *tenant, FILE *out);

/* ---- ls_coord_persist.c ---- */

/** Read <prefix>.coordinator.schedule into unowned scope entries (before the first job). Never fails the start. */
int coord_schedule_restore(coord_t *c);

/** Produce s's schedule record (asynchronously; a failure is counted). */
void coord_schedule_write(coord_t *c, const coord_scope_t *s);

/** Produce a tombstone for a scope that is gone. */
void coord_schedule_tombstone(coord_t *c, const char *key);

/** Tombstone and forget restored entries whose connection a complete listing pass did not name. */
void coord_schedule_drop_orphans(coord_t *c);

#endif
