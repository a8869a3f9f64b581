/*
 * ls_config.h - the read-only configuration of every lmsync process.
 *
 * Sources, later wins: built-in defaults, the config file ("key = value"
 * lines, '#' comments), then environment variables: LMSYNC_<KEY> with dots
 * as underscores (LMSYNC_KAFKA_BROKERS), plus the conventional
 * UNIFIED_API_TOKEN and KAFKA_BROKERS. Secrets (the API token) come only
 * from the environment or a mounted file (unified.token_file), never from
 * the config file itself, and are never logged. Validation is all-or-
 * nothing: ls_config_load() either fills a complete valid config or names
 * the first bad setting.
 */
#ifndef LS_CONFIG_H
#define LS_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "ls_kafka.h"
#include "ls_profile.h"
#include "ls_scope.h"

#define LS_CFG_STR 512
#define LS_MAX_WORKSPACES 8

/*
 * A Unified workspace (or region): the hosts a deployment polls. The default
 * one (name "") is unified.base_url with UNIFIED_API_TOKEN or
 * unified.token_file; unified.workspaces adds named ones, each with its own
 * base URL and token file. A job names its workspace, and its requests go
 * only to that workspace's base URL with that workspace's token.
 */
typedef struct ls_workspace {
    char name[LS_WORKSPACE_MAX];  /* "" = the default workspace */
    char base_url[LS_CFG_STR];
    char token_file[LS_CFG_STR];  /* "" for the default one when the token came from UNIFIED_API_TOKEN */
    char token[LS_CFG_STR];       /* secret: never logged */
} ls_workspace_t;

typedef struct ls_config {
    /* upstream */
    char unified_base_url[LS_CFG_STR];   /* unified.base_url */
    char unified_token[LS_CFG_STR];      /* secret: UNIFIED_API_TOKEN or unified.token_file */
    char unified_token_file[LS_CFG_STR]; /* unified.token_file */
    int http_timeout_s;                  /* unified.http_timeout_s */
    int http_max_retries;                /* unified.max_retries */
    int max_response_mb;                 /* unified.max_response_mb: largest response body, raw and decompressed */
    char unified_workspaces[2048];       /* unified.workspaces: "NAME=BASE_URL|TOKEN_FILE,..." named workspaces */
    ls_workspace_t workspaces[LS_MAX_WORKSPACES]; /* derived: the workspaces polled; the default one first when
                                            unified.workspaces is empty or it has a token */
    int n_workspaces;
    /* kafka */
    char kafka_brokers[LS_CFG_STR];      /* kafka.brokers / KAFKA_BROKERS */
    char topic_prefix[64];               /* kafka.topic_prefix */
    char kafka_compression[16];          /* kafka.compression: none | gzip | snappy | lz4 | zstd */
    /* coordinator */
    char connections[4096];              /* coordinator.connections: "id[:integration[:xref]],..." or empty = discover */
    int poll_interval_s;                 /* coordinator.interval_s */
    int discovery_interval_s;            /* coordinator.discovery_interval_s */
    int job_timeout_s;                   /* coordinator.job_timeout_s: re-enqueue an unreported job after this */
    int full_every;                      /* coordinator.full_every: every Nth job of an incremental scope is a full scan */
    int full_max_age_s;                  /* coordinator.full_max_age_s: ... and at least this often */
    int fanout_records;                  /* coordinator.fanout_records: poll per course above this size (0 = never by size) */
    int discovery_concurrency;           /* coordinator.discovery_concurrency: list pages (and course lists) in flight at once */
    int leader_election;                 /* coordinator.leader_election: 1 = replicas elect one active coordinator through Kafka */
    char tenant_weights[1024];           /* coordinator.tenant_weights: "xref=W,...,*=W" shares of the job stream when jobs queue up */
    char tenant_map[2048];               /* coordinator.tenant_map: "CONNECTION_OR_TYPE=TENANT,..." when external_xref is not the tenant */
    char tenant_budget[1024];            /* coordinator.tenant_budget: "TENANT=RPM,...,*=RPM" upstream requests per minute per tenant */
    int max_enqueue_per_s;               /* coordinator.max_enqueue_per_s: jobs produced per second at most (a due burst is paced) */
    char profile_overrides[2048];        /* coordinator.profile_overrides: "TARGET.KEY=VALUE,..." (ls_profile.h) */
    char coord_compression[16];          /* coordinator.compression: the coordinator's producer (jobs, schedule): as kafka.compression */
    /* worker */
    char lmdb_path[LS_CFG_STR];          /* worker.lmdb_path */
    int lmdb_map_mb;                     /* worker.lmdb_map_mb */
    int page_limit;                      /* worker.page_limit */
    int max_in_flight;                   /* worker.max_in_flight: jobs run at once by one worker process */
    char connection_rate[32];            /* worker.connection_rate: requests per connection, "N/s", "N/min", "N/h", 0 = unlimited */
    int connection_burst;                /* worker.connection_burst: requests a connection may make at once after idling */
    char integration_rates[1024];        /* worker.integration_rates: "type=RATE,...,*=RATE" per worker process, "" = none */
    int lmdb_resident_mb;                /* worker.lmdb_resident_mb: trim the map's resident pages above this (0 = never) */
    char lmdb_sync[16];                  /* worker.lmdb_sync: deferred (sync every second, reboot guard) | always */
    char group_id[128];                  /* worker.group_id */
    int worker_processes;                /* worker.processes: children forked by the supervisor (0 = one per core) */
    int watermark_overlap_s;             /* worker.watermark_overlap_s: incremental watermark = job start minus this */
    int shrink_accept_scans;             /* worker.shrink_accept_scans: accept a guarded shrink as the new baseline after
                                            this many consecutive complete scans agree (0 = never) */
    int shrink_tolerance_pct;            /* worker.shrink_tolerance_pct: how close those scans' counts must be */
    char tenant_max_share[16];           /* worker.tenant_max_share: fraction of max_in_flight one tenant may run while
                                            another tenant's job waits (ls_share.h; "1" = no cap) */
    int rollups_enabled;                 /* rollups.enabled: 0 = no rollup rows, no records on the rollup topics (the
                                            rows are marked stale and rebuilt at a restore once enabled again) */
    int current_enabled;                 /* current.enabled: 0 = nothing produced on lmsync.activity.current */
    int rollup_idle_days;                /* rollups.idle_days: a learner whose last activity is older is idle in
                                            the course rollups (docs/events.md, Progress rollups) */
    int removal_min_ratio_pct;           /* worker.removal_min_ratio_pct: a full scan returning fewer than this % of the
                                            records the previous complete scan returned removes nothing */
    int state_retention_s;               /* worker.state_tombstone_retention_s: the state topic's delete.retention.ms
                                            in seconds; an older checkpoint wipes and fully restores its partition */
    /* enrichment: course and content names (docs/architecture.md, "Catalog") */
    int enrichment_enabled;              /* enrichment.enabled: 1 = the coordinator schedules catalog jobs */
    int enrichment_refresh_s;            /* enrichment.refresh_s: a connection's catalog job runs this often */
    char enrichment_student_fields[256]; /* enrichment.student_fields: LmsStudent fields to carry ("" = none, the default) */
    /* polling (the coordinator's adaptive intervals and request budgets, coordinator/ls_coord_adapt.h) */
    int polling_adaptive;                /* polling.adaptive: 1 = each scope's interval follows its changes */
    int polling_min_interval_s;          /* polling.min_interval_s: shortest adaptive interval */
    int polling_max_interval_s;          /* polling.max_interval_s: longest adaptive interval (a quiet scope's) */
    int polling_budget_per_hour;         /* polling.budget_per_hour: upstream requests per hour of every job (0 = unlimited) */
    char polling_integration_budgets[1024]; /* polling.integration_budgets: "TYPE=N,..." requests per hour per integration type */
    /* lmsync-xapi (docs/xapi.md) */
    char xapi_lrs_url[LS_CFG_STR];        /* xapi.lrs_url: the LRS's xAPI endpoint; statements at <url>/statements */
    char xapi_credentials_file[LS_CFG_STR]; /* xapi.credentials_file: "user:password" for Basic auth ("" = none) */
    char xapi_activity_base[LS_CFG_STR];  /* xapi.activity_base: IRI prefix of activities and courses */
    char xapi_actor_base[LS_CFG_STR];     /* xapi.actor_base: IRI prefix of the actor account's homePage */
    char xapi_actor_scope[16];            /* xapi.actor_scope: connection | tenant */
    int xapi_batch;                       /* xapi.batch: statements per POST at most */
    int xapi_batch_ms;                    /* xapi.batch_ms: a batch is posted at most this long after its first event */
    int xapi_timeout_s;                   /* xapi.timeout_s: per-request timeout */
    int xapi_max_backoff_s;               /* xapi.max_backoff_s: cap of the retry backoff */
    char xapi_group_id[128];              /* xapi.group_id: consumer group ("" = <prefix>-xapi) */
    /* lmsync-webhook (docs/webhooks.md) */
    char webhook_listen[64];              /* webhook.listen: "host:port" that receives Unified's webhook POSTs */
    char webhook_secret_file[LS_CFG_STR]; /* webhook.secret_file: the workspace secret signatures are keyed with */
    char webhook_sig_encoding[16];        /* webhook.sig_encoding: base64 | hex, how the HMAC-SHA1 digest is written */
    int webhook_max_body_kb;              /* webhook.max_body_kb: a larger body is refused (413) */
    int webhook_nonce_window_s;           /* webhook.nonce_window_s: a nonce seen within this is a replay (409) */
    char webhook_connection_rate[32];     /* webhook.connection_rate: deliveries per connection, "N/s", "N/min" */
    int webhook_connection_burst;         /* webhook.connection_burst: deliveries a connection may send at once */
    int webhook_refresh_s;                /* webhook.connections_refresh_s: re-read the known connections this often */
    char webhook_port_file[LS_CFG_STR];   /* webhook.port_file: write the bound port here (tests; "" = none) */
    char webhook_workspace[LS_WORKSPACE_MAX]; /* webhook.workspace: the Unified workspace this receiver serves ("" = the default) */
    /* the coordinator's webhook subscriptions in Unified (docs/webhooks.md) */
    char webhook_subscribe[24];           /* webhook.subscribe: off | native | native+virtual */
    char webhook_hook_url[LS_CFG_STR];    /* webhook.hook_url: lmsync-webhook's public URL; owns the subscriptions with it */
    int webhook_virtual_interval_min;     /* webhook.virtual_interval_min: interval of VIRTUAL subscriptions (minutes) */
    int webhook_reconcile_interval_s;     /* webhook.reconcile_interval_s: poll interval of a subscribed scope (0 = 4 x coordinator.interval_s) */
    int webhook_subscribe_refresh_s;      /* webhook.subscribe_refresh_s: list and reconcile the subscriptions this often */
    /* operations */
    char ops_listen[64];                 /* ops.listen: "host:port" of /healthz, /readyz, /metrics ("" = off) */
    char ops_port_file[LS_CFG_STR];      /* ops.port_file: write the bound port here (tests, demo; "" = none) */
    /* lmsync-board (docs/board.md) */
    char board_listen[64];               /* board.listen: "host:port" of the board's page, API and event stream */
    char board_port_file[LS_CFG_STR];    /* board.port_file: write the bound port here (tests, demo; "" = none) */
    int board_max_clients;               /* board.max_clients: event-stream clients at once; more get 503 */
    /* logging */
    char log_level[16];                  /* log.level */
    char log_format[16];                 /* log.format: json | text */
} ls_config_t;

/** Fill *cfg with the built-in defaults. */
void ls_config_defaults(ls_config_t *cfg);

/**
 * Defaults, then the file at path (NULL = none), then the environment, then
 * validation. require_token: fail when no API token is configured.
 * @return 0, or LS_EINVAL with a message naming the setting (and file:line
 *         for file errors) in err.
 */
int ls_config_load(const char *path, int require_token, ls_config_t *cfg,
                   char *err, size_t errsz);

/** The configured workspace called name ("" or NULL = the default one); NULL when there is none. */
const ls_workspace_t *ls_config_workspace(const ls_config_t *cfg, const char *name);

/** "default" for the default workspace's "", else name: for log lines. */
const char *ls_workspace_label(const char *name);

/** Topic name "<prefix>.<suffix>" into buf. */
void ls_config_topic(const ls_config_t *cfg, const char *suffix, char *buf, size_t bufsz);

/** The Kafka adapter's settings, borrowing cfg's strings. */
ls_kafka_conf_t ls_config_kafka(const ls_config_t *cfg);

/** The strategy settings (coordinator.* and worker.watermark_overlap_s) of cfg. */
ls_strategy_cfg_t ls_config_strategy(const ls_config_t *cfg);

/**
 * Print every setting as "key = value" to out, the token shown as "(set)" or
 * "(unset)" and a password in unified.base_url (user:password@host) as "****".
 */
void ls_config_dump(const ls_config_t *cfg, FILE *out);

/**
 * url with the password of its user:password@ part replaced by "****"
 * (unchanged when it has none), into buf (truncated to bufsz).
 */
void ls_config_mask_url(const char *url, char *buf, size_t bufsz);

#endif
