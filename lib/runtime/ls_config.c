/*
 * ls_config.c - table-driven configuration: one row per setting gives its
 * key, where it lives in ls_config_t, its type and its allowed range, so the
 * file parser, the environment overrides, validation and --check-config all
 * share one definition.
 */
#include "ls_config.h"
#include "ls_err.h"
#include "ls_ops.h"
#include "ls_profile.h"
#include "ls_ratelimit.h"
#include "ls_share.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { CFG_STR, CFG_INT } cfg_type_t;

typedef struct cfg_setting {
    const char *key;
    cfg_type_t type;
    size_t offset;
    size_t size;     /* buffer size for CFG_STR */
    long min, max;   /* range for CFG_INT */
    int secret;      /* never printed, never read from the config file */
} cfg_setting_t;

#define S(key, field) {key, CFG_STR, offsetof(ls_config_t, field), sizeof(((ls_config_t *)0)->field), 0, 0, 0}
#define I(key, field, lo, hi) {key, CFG_INT, offsetof(ls_config_t, field), 0, lo, hi, 0}

static const cfg_setting_t settings[] = {
    S("unified.base_url", unified_base_url),
    {"unified.token", CFG_STR, offsetof(ls_config_t, unified_token), LS_CFG_STR, 0, 0, 1},
    S("unified.token_file", unified_token_file),
    I("unified.http_timeout_s", http_timeout_s, 1, 600),
    I("unified.max_retries", http_max_retries, 0, 20),
    I("unified.max_response_mb", max_response_mb, 1, 4096),
    S("unified.workspaces", unified_workspaces),
    S("kafka.brokers", kafka_brokers),
    S("kafka.topic_prefix", topic_prefix),
    S("kafka.compression", kafka_compression),
    S("coordinator.connections", connections),
    I("coordinator.interval_s", poll_interval_s, 1, 86400),
    I("coordinator.discovery_interval_s", discovery_interval_s, 1, 86400),
    I("coordinator.job_timeout_s", job_timeout_s, 1, 86400),
    I("coordinator.full_every", full_every, 1, 100000),
    I("coordinator.full_max_age_s", full_max_age_s, 60, 30 * 86400),
    I("coordinator.fanout_records", fanout_records, 0, 2000000000),
    I("coordinator.discovery_concurrency", discovery_concurrency, 1, 64),
    I("coordinator.max_enqueue_per_s", max_enqueue_per_s, 1, 1000000),
    I("coordinator.leader_election", leader_election, 0, 1),
    S("coordinator.tenant_weights", tenant_weights),
    S("coordinator.tenant_map", tenant_map),
    S("coordinator.tenant_budget", tenant_budget),
    S("coordinator.profile_overrides", profile_overrides),
    S("coordinator.compression", coord_compression),
    S("worker.lmdb_path", lmdb_path),
    I("worker.lmdb_map_mb", lmdb_map_mb, 1, 1048576),
    I("worker.page_limit", page_limit, 1, 1000),
    I("worker.max_in_flight", max_in_flight, 1, 4096),
    S("worker.connection_rate", connection_rate),
    I("worker.connection_burst", connection_burst, 1, 10000),
    S("worker.integration_rates", integration_rates),
    S("worker.lmdb_sync", lmdb_sync),
    I("worker.lmdb_resident_mb", lmdb_resident_mb, 0, 1048576),
    S("worker.group_id", group_id),
    I("worker.processes", worker_processes, 0, 256),
    I("worker.removal_min_ratio_pct", removal_min_ratio_pct, 0, 100),
    I("worker.state_tombstone_retention_s", state_retention_s, 1, 315360000),
    I("worker.watermark_overlap_s", watermark_overlap_s, 0, 86400),
    I("worker.shrink_accept_scans", shrink_accept_scans, 0, 1000),
    I("worker.shrink_tolerance_pct", shrink_tolerance_pct, 0, 100),
    S("worker.tenant_max_share", tenant_max_share),
    I("rollups.idle_days", rollup_idle_days, 1, 3650),
    I("rollups.enabled", rollups_enabled, 0, 1),
    I("current.enabled", current_enabled, 0, 1),
    I("enrichment.enabled", enrichment_enabled, 0, 1),
    I("enrichment.refresh_s", enrichment_refresh_s, 1, 30 * 86400),
    S("enrichment.student_fields", enrichment_student_fields),
    I("polling.adaptive", polling_adaptive, 0, 1),
    I("polling.min_interval_s", polling_min_interval_s, 1, 86400),
    I("polling.max_interval_s", polling_max_interval_s, 1, 86400),
    I("polling.budget_per_hour", polling_budget_per_hour, 0, 2000000000),
    S("polling.integration_budgets", polling_integration_budgets),
    S("xapi.lrs_url", xapi_lrs_url),
    S("xapi.credentials_file", xapi_credentials_file),
    S("xapi.activity_base", xapi_activity_base),
    S("xapi.actor_base", xapi_actor_base),
    S("xapi.actor_scope", xapi_actor_scope),
    I("xapi.batch", xapi_batch, 1, 1000),
    I("xapi.batch_ms", xapi_batch_ms, 1, 600000),
    I("xapi.timeout_s", xapi_timeout_s, 1, 600),
    I("xapi.max_backoff_s", xapi_max_backoff_s, 1, 3600),
    S("xapi.group_id", xapi_group_id),
    S("ops.listen", ops_listen),
    S("ops.port_file", ops_port_file),
    S("webhook.listen", webhook_listen),
    S("webhook.secret_file", webhook_secret_file),
    S("webhook.sig_encoding", webhook_sig_encoding),
    I("webhook.max_body_kb", webhook_max_body_kb, 1, 16384),
    I("webhook.nonce_window_s", webhook_nonce_window_s, 1, 7 * 86400),
    S("webhook.connection_rate", webhook_connection_rate),
    I("webhook.connection_burst", webhook_connection_burst, 1, 100000),
    I("webhook.connections_refresh_s", webhook_refresh_s, 1, 86400),
    S("webhook.port_file", webhook_port_file),
    S("webhook.workspace", webhook_workspace),
    S("webhook.subscribe", webhook_subscribe),
    S("webhook.hook_url", webhook_hook_url),
    I("webhook.virtual_interval_min", webhook_virtual_interval_min, 1, 1440),
    I("webhook.reconcile_interval_s", webhook_reconcile_interval_s, 0, 7 * 86400),
    I("webhook.subscribe_refresh_s", webhook_subscribe_refresh_s, 1, 86400),
    S("board.listen", board_listen),
    S("board.port_file", board_port_file),
    I("board.max_clients", board_max_clients, 1, 1000),
    S("log.level", log_level),
    S("log.format", log_format),
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

void ls_config_defaults(ls_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->unified_base_url, sizeof(cfg->unified_base_url), "https://api.unified.to");
    cfg->http_timeout_s = 30;
    cfg->http_max_retries = 3;
    cfg->max_response_mb = 64;
    snprintf(cfg->topic_prefix, sizeof(cfg->topic_prefix), "lmsync");
    snprintf(cfg->kafka_compression, sizeof(cfg->kafka_compression), "gzip");
    snprintf(cfg->coord_compression, sizeof(cfg->coord_compression), "lz4");
    cfg->poll_interval_s = 300;
    cfg->discovery_interval_s = 300;
    cfg->polling_min_interval_s = 60;
    cfg->polling_max_interval_s = 1800;
    cfg->job_timeout_s = 900;
    snprintf(cfg->lmdb_path, sizeof(cfg->lmdb_path), "./lmsync-data");
    cfg->lmdb_map_mb = 1024;
    cfg->page_limit = 100;
    cfg->max_in_flight = 64;
    snprintf(cfg->connection_rate, sizeof(cfg->connection_rate), "20/s");
    cfg->connection_burst = 20;
    snprintf(cfg->lmdb_sync, sizeof(cfg->lmdb_sync), "deferred");
    cfg->lmdb_resident_mb = 32;
    cfg->worker_processes = 0;
    cfg->removal_min_ratio_pct = 50;
    cfg->state_retention_s = 86400; /* Kafka's default delete.retention.ms */
    cfg->full_every = 12;
    cfg->full_max_age_s = 86400;
    cfg->fanout_records = 50000;
    cfg->discovery_concurrency = 8;
    cfg->max_enqueue_per_s = 5000;
    cfg->watermark_overlap_s = 120;
    cfg->shrink_accept_scans = 3;
    cfg->shrink_tolerance_pct = 5;
    snprintf(cfg->tenant_max_share, sizeof(cfg->tenant_max_share), "0.5");
    cfg->rollup_idle_days = 14;
    cfg->rollups_enabled = 1;
    cfg->current_enabled = 1;
    snprintf(cfg->group_id, sizeof(cfg->group_id), "lmsync-worker");
    cfg->enrichment_enabled = 1;
    cfg->enrichment_refresh_s = 3600;
    snprintf(cfg->xapi_actor_scope, sizeof(cfg->xapi_actor_scope), "connection");
    cfg->xapi_batch = 50;
    cfg->xapi_batch_ms = 1000;
    cfg->xapi_timeout_s = 30;
    cfg->xapi_max_backoff_s = 60;
    snprintf(cfg->webhook_listen, sizeof(cfg->webhook_listen), "0.0.0.0:8090");
    snprintf(cfg->webhook_sig_encoding, sizeof(cfg->webhook_sig_encoding), "base64");
    cfg->webhook_max_body_kb = 1024;
    cfg->webhook_nonce_window_s = 86400;
    snprintf(cfg->webhook_connection_rate, sizeof(cfg->webhook_connection_rate), "20/s");
    cfg->webhook_connection_burst = 50;
    cfg->webhook_refresh_s = 30;
    snprintf(cfg->webhook_subscribe, sizeof(cfg->webhook_subscribe), "off");
    cfg->webhook_virtual_interval_min = 60;
    cfg->webhook_subscribe_refresh_s = 300;
    snprintf(cfg->board_listen, sizeof(cfg->board_listen), "127.0.0.1:0");
    cfg->board_max_clients = 32;
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    snprintf(cfg->log_format, sizeof(cfg->log_format), "json");
}

static const cfg_setting_t *find_setting(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

/* Store one textual value into its field; where names the source for errors. */
static int set_value(ls_config_t *cfg, const cfg_setting_t *s, const char *val,
                     const char *where, char *err, size_t errsz)
{
    char *field = (char *)cfg + s->offset;
    if (s->type == CFG_STR) {
        if (strlen(val) >= s->size) {
            snprintf(err, errsz, "%s: setting '%s' is longer than %zu bytes", where, s->key, s->size - 1);
            return LS_EINVAL;
        }
        memcpy(field, val, strlen(val) + 1);
        return LS_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0') {
        snprintf(err, errsz, "%s: setting '%s' must be an integer, got \"%.40s\"", where, s->key, val);
        return LS_EINVAL;
    }
    if (v < s->min || v > s->max) {
        snprintf(err, errsz, "%s: setting '%s' must be between %ld and %ld, got %ld", where, s->key, s->min, s->max, v);
        return LS_EINVAL;
    }
    *(int *)(void *)field = (int)v;
    return LS_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int parse_line(ls_config_t *cfg, char *line, const char *where, char *err, size_t errsz)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return LS_OK;
    char *eq = strchr(s, '=');
    if (!eq) {
        snprintf(err, errsz, "%s: expected 'key = value'", where);
        return LS_EINVAL;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    const cfg_setting_t *set = find_setting(key);
    if (!set) {
        snprintf(err, errsz, "%s: unknown setting '%s'", where, key);
        return LS_EINVAL;
    }
    if (set->secret) {
        snprintf(err, errsz, "%s: setting '%s' is a secret: set UNIFIED_API_TOKEN or unified.token_file instead", where, key);
        return LS_EINVAL;
    }
    return set_value(cfg, set, val, where, err, errsz);
}

static int load_file(ls_config_t *cfg, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "cannot open config file \"%s\": %s", path, strerror(errno));
        return LS_EINVAL;
    }
    char line[8192], where[LS_CFG_STR + 32];
    int lineno = 0, rc = LS_OK;
    while (rc == LS_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errsz, "%s: line longer than %zu bytes", where, sizeof(line) - 2);
            rc = LS_EINVAL;
            break;
        }
        rc = parse_line(cfg, line, where, err, errsz);
    }
    fclose(f);
    return rc;
}

/* LMSYNC_KAFKA_BROKERS for "kafka.brokers". */
static void env_name(const char *key, char *buf, size_t bufsz)
{
    size_t n = (size_t)snprintf(buf, bufsz, "LMSYNC_");
    for (; *key && n + 1 < bufsz; key++)
        buf[n++] = (*key == '.') ? '_' : (char)toupper((unsigned char)*key);
    buf[n] = '\0';
}

static int load_env(ls_config_t *cfg, char *err, size_t errsz)
{
    char name[96], where[128];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        env_name(settings[i].key, name, sizeof(name));
        const char *v = getenv(name);
        if (settings[i].secret && !v)
            v = getenv("UNIFIED_API_TOKEN");
        if (strcmp(settings[i].key, "kafka.brokers") == 0 && !v)
            v = getenv("KAFKA_BROKERS");
        if (!v)
            continue;
        snprintf(where, sizeof(where), "environment %s", settings[i].secret && !getenv(name) ? "UNIFIED_API_TOKEN" : name);
        int rc = set_value(cfg, &settings[i], v, where, err, errsz);
        if (rc)
            return rc;
    }
    return LS_OK;
}

/* Read the token file at path into token (trimmed); what names the setting in errors. */
static int read_token_file(const char *path, const char *what, char *token, size_t tokensz, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: cannot open \"%s\": %s", what, path, strerror(errno));
        return LS_EINVAL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        snprintf(err, errsz, "%s: \"%s\" is a directory", what, path);
        return LS_EINVAL;
    }
    char buf[LS_CFG_STR];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    buf[n] = '\0';
    if (rerr) {
        snprintf(err, errsz, "%s: cannot read \"%s\": %s", what, path, strerror(rerr));
        return LS_EINVAL;
    }
    char *t = trim(buf);
    if (*t == '\0') {
        snprintf(err, errsz, "%s: \"%s\" is empty", what, path);
        return LS_EINVAL;
    }
    snprintf(token, tokensz, "%s", t);
    memset(buf, 0, sizeof(buf));
    return LS_OK;
}

static int load_token_file(ls_config_t *cfg, char *err, size_t errsz)
{
    return read_token_file(cfg->unified_token_file, "setting 'unified.token_file'", cfg->unified_token,
                           sizeof(cfg->unified_token), err, errsz);
}

/* The '@' ending the userinfo of the authority at auth (up to / ? #): the last one; NULL if none. */
static const char *userinfo_end(const char *auth)
{
    const char *at = NULL;
    for (const char *p = auth; *p && !strchr("/?#", *p); p++)
        at = *p == '@' ? p : at;
    return at;
}

void ls_config_mask_url(const char *url, char *buf, size_t bufsz)
{
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *at = userinfo_end(auth), *colon = NULL;
    if (at)
        colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon) {
        snprintf(buf, bufsz, "%s", url);
        return;
    }
    snprintf(buf, bufsz, "%.*s****%s", (int)(colon + 1 - url), url, at);
}

/* http(s)://HOST..., HOST not empty; what names the setting in errors. */
static int check_base_url(const char *url, const char *what, char *err, size_t errsz)
{
    char shown[96];
    ls_config_mask_url(url, shown, sizeof(shown));
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (skip == 0) {
        snprintf(err, errsz, "%s must start with http:// or https://, got \"%s\"", what, shown);
        return LS_EINVAL;
    }
    const char *host = url + skip, *at = userinfo_end(host);
    if (at)
        host = at + 1;
    if (strcspn(host, "/?#") == 0 || host[0] == ':') {
        snprintf(err, errsz, "%s has no host, got \"%s\"", what, shown);
        return LS_EINVAL;
    }
    return LS_OK;
}

/* The token goes into an HTTP header: a control character (CR/LF above all) would end it early. */
static int check_token(const char *token, const char *what, char *err, size_t errsz)
{
    for (const unsigned char *p = (const unsigned char *)token; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(err, errsz, "%s holds a control character at byte %zu; the token is not shown", what,
                     (size_t)(p - (const unsigned char *)token));
            return LS_EINVAL;
        }
    }
    return LS_OK;
}

/* A producer's compression.type. */
static int check_codec(const char *key, const char *codec, char *err, size_t errsz)
{
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t k = 0; k < sizeof(codecs) / sizeof(codecs[0]); k++)
        if (strcmp(codec, codecs[k]) == 0)
            return LS_OK;
    snprintf(err, errsz, "setting '%s' must be none, gzip, snappy, lz4 or zstd, got \"%.20s\"", key, codec);
    return LS_EINVAL;
}

/*
 * enrichment.student_fields: a comma list of LmsStudent members. Personal
 * data is fetched only when named here, and this build fetches none yet, so
 * a valid non-empty list is refused too: accepting it would promise data
 * that never comes.
 */
static int check_student_fields(const char *spec, char *err, size_t errsz)
{
    static const char *const known[] = {"name", "first_name", "last_name", "emails", "telephones", "address", "image_url"};
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ","), k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && (strlen(known[k]) != len || strncmp(known[k], p, len)))
            k++;
        if (k == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errsz, "setting 'enrichment.student_fields': \"%.*s\" is not a student field (name, "
                     "first_name, last_name, emails, telephones, address, image_url)", (int)(len < 40 ? len : 40), p);
            return LS_EINVAL;
        }
        p += len + (p[len] == ',');
    }
    if (spec[0]) {
        snprintf(err, errsz, "setting 'enrichment.student_fields': fetching student fields is not built in this "
                 "version; leave it empty (no personal data is fetched)");
        return LS_EINVAL;
    }
    return LS_OK;
}

/* webhook.subscribe and webhook.hook_url (a subscription is lmsync's iff its hook_url is this one). */
static int check_subscribe(const ls_config_t *cfg, char *err, size_t errsz)
{
    const char *m = cfg->webhook_subscribe, *u = cfg->webhook_hook_url;
    if (strcmp(m, "off") && strcmp(m, "native") && strcmp(m, "native+virtual")) {
        snprintf(err, errsz, "setting 'webhook.subscribe' must be off, native or native+virtual, got \"%.24s\"", m);
        return LS_EINVAL;
    }
    if (strcmp(m, "off") != 0 && !u[0]) {
        snprintf(err, errsz, "setting 'webhook.hook_url' is empty: webhook.subscribe = %s needs lmsync-webhook's public URL", m);
        return LS_EINVAL;
    }
    if (u[0] && ((strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || strpbrk(u, " \t\"\\"))) {
        snprintf(err, errsz, "setting 'webhook.hook_url' must be an http:// or https:// URL without spaces or quotes, got \"%.60s\"", u);
        return LS_EINVAL;
    }
    return LS_OK;
}

static int validate(const ls_config_t *cfg, int require_token, char *err, size_t errsz)
{
    if (check_base_url(cfg->unified_base_url, "setting 'unified.base_url'", err, errsz) != LS_OK ||
        check_token(cfg->unified_token, "setting 'unified.token' (UNIFIED_API_TOKEN or unified.token_file)", err,
                    errsz) != LS_OK)
        return LS_EINVAL;
    if (cfg->kafka_brokers[0] == '\0') {
        snprintf(err, errsz, "setting 'kafka.brokers' is empty: set it in the config file, or KAFKA_BROKERS / LMSYNC_KAFKA_BROKERS");
        return LS_EINVAL;
    }
    char wwhy[128];
    if (cfg->webhook_workspace[0] && ls_workspace_check(cfg->webhook_workspace, wwhy, sizeof(wwhy)) != LS_OK) {
        snprintf(err, errsz, "setting 'webhook.workspace': %s", wwhy);
        return LS_EINVAL;
    }
    if (require_token && cfg->unified_token[0] == '\0' && cfg->unified_workspaces[0] == '\0') {
        snprintf(err, errsz, "no API token: set UNIFIED_API_TOKEN, setting 'unified.token_file' or 'unified.workspaces'");
        return LS_EINVAL;
    }
    for (const char *p = cfg->topic_prefix; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(err, errsz, "setting 'kafka.topic_prefix' may hold only [A-Za-z0-9._-], got \"%s\"", cfg->topic_prefix);
            return LS_EINVAL;
        }
    }
    if (cfg->topic_prefix[0] == '\0') {
        snprintf(err, errsz, "setting 'kafka.topic_prefix' is empty");
        return LS_EINVAL;
    }
    if (check_codec("kafka.compression", cfg->kafka_compression, err, errsz) != LS_OK ||
        check_codec("coordinator.compression", cfg->coord_compression, err, errsz) != LS_OK)
        return LS_EINVAL;
    if (strcmp(cfg->log_format, "json") != 0 && strcmp(cfg->log_format, "text") != 0) {
        snprintf(err, errsz, "setting 'log.format' must be json or text, got \"%s\"", cfg->log_format);
        return LS_EINVAL;
    }
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")) {
        snprintf(err, errsz, "setting 'log.level' must be debug, info, warn or error, got \"%s\"", cfg->log_level);
        return LS_EINVAL;
    }
    if (cfg->polling_min_interval_s > cfg->polling_max_interval_s) {
        snprintf(err, errsz, "setting 'polling.min_interval_s' (%d) is above 'polling.max_interval_s' (%d)",
                 cfg->polling_min_interval_s, cfg->polling_max_interval_s);
        return LS_EINVAL;
    }
    if (ls_profile_check_overrides(cfg->profile_overrides, err, errsz) != LS_OK ||
        check_student_fields(cfg->enrichment_student_fields, err, errsz) != LS_OK ||
        check_subscribe(cfg, err, errsz) != LS_OK)
        return LS_EINVAL;
    double rate;
    char why[200];
    if (ls_rate_parse(cfg->connection_rate, &rate, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "setting 'worker.connection_rate': %s", why);
        return LS_EINVAL;
    }
    if (ls_rate_spec_check(cfg->integration_rates, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "setting 'worker.integration_rates': %s", why);
        return LS_EINVAL;
    }
    if (ls_share_parse(cfg->tenant_max_share, &rate, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "setting 'worker.tenant_max_share' %s", why);
        return LS_EINVAL;
    }
    if (strcmp(cfg->lmdb_sync, "deferred") != 0 && strcmp(cfg->lmdb_sync, "always") != 0) {
        snprintf(err, errsz, "setting 'worker.lmdb_sync' must be deferred or always, got \"%.40s\"", cfg->lmdb_sync);
        return LS_EINVAL;
    }
    if (cfg->lmdb_path[0] == '\0') {
        snprintf(err, errsz, "setting 'worker.lmdb_path' is empty");
        return LS_EINVAL;
    }
    char host[64];
    int port;
    if (cfg->ops_listen[0] && ls_ops_parse_listen(cfg->ops_listen, host, sizeof(host), &port, err, errsz) != 0)
        return LS_EINVAL;
    if (ls_ops_parse_listen_key("board.listen", cfg->board_listen, host, sizeof(host), &port, err, errsz) != 0)
        return LS_EINVAL;
    if (cfg->group_id[0] == '\0') {
        snprintf(err, errsz, "setting 'worker.group_id' is empty");
        return LS_EINVAL;
    }
    return LS_OK;
}

/* One "NAME=BASE_URL|TOKEN_FILE" entry (trimmed, NUL-terminated, writable) into w. */
static int parse_workspace(char *entry, ls_workspace_t *w, char *err, size_t errsz)
{
    char what[96], why[96];
    char *eq = strchr(entry, '='), *bar = strrchr(entry, '|');
    if (!eq || !bar || bar < eq) {
        snprintf(err, errsz, "setting 'unified.workspaces': entry \"%.40s\" is not NAME=BASE_URL|TOKEN_FILE", entry);
        return LS_EINVAL;
    }
    *eq = *bar = '\0';
    char *name = trim(entry), *url = trim(eq + 1), *file = trim(bar + 1);
    if (ls_workspace_check(name, why, sizeof(why)) != LS_OK || strcmp(name, "default") == 0) {
        snprintf(err, errsz, "setting 'unified.workspaces': workspace name \"%.40s\" %s", name,
                 strcmp(name, "default") == 0 ? "is reserved for unified.base_url" : why);
        return LS_EINVAL;
    }
    snprintf(what, sizeof(what), "setting 'unified.workspaces' (workspace \"%s\")", name);
    if (strlen(url) >= sizeof(w->base_url) || strlen(file) >= sizeof(w->token_file) || !*file) {
        snprintf(err, errsz, "%s: base URL or token file %s", what, *file ? "too long" : "missing");
        return LS_EINVAL;
    }
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->base_url, sizeof(w->base_url), "%s", url);
    snprintf(w->token_file, sizeof(w->token_file), "%s", file);
    if (check_base_url(w->base_url, what, err, errsz) != LS_OK ||
        read_token_file(w->token_file, what, w->token, sizeof(w->token), err, errsz) != LS_OK)
        return LS_EINVAL;
    return check_token(w->token, what, err, errsz);
}

/* cfg->workspaces from the default settings and unified.workspaces. */
static int load_workspaces(ls_config_t *cfg, char *err, size_t errsz)
{
    cfg->n_workspaces = 0;
    if (!cfg->unified_workspaces[0] || cfg->unified_token[0]) {
        ls_workspace_t *d = &cfg->workspaces[cfg->n_workspaces++];
        snprintf(d->base_url, sizeof(d->base_url), "%s", cfg->unified_base_url);
        snprintf(d->token_file, sizeof(d->token_file), "%s", cfg->unified_token_file);
        snprintf(d->token, sizeof(d->token), "%s", cfg->unified_token);
    }
    char spec[sizeof(cfg->unified_workspaces)], *save = NULL;
    snprintf(spec, sizeof(spec), "%s", cfg->unified_workspaces);
    for (char *e = strtok_r(spec, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        if (*trim(e) == '\0')
            continue;
        if (cfg->n_workspaces == LS_MAX_WORKSPACES) {
            snprintf(err, errsz, "setting 'unified.workspaces': more than %d workspaces", LS_MAX_WORKSPACES);
            return LS_EINVAL;
        }
        ls_workspace_t *w = &cfg->workspaces[cfg->n_workspaces];
        if (parse_workspace(trim(e), w, err, errsz) != LS_OK)
            return LS_EINVAL;
        if (ls_config_workspace(cfg, w->name)) {
            snprintf(err, errsz, "setting 'unified.workspaces': workspace \"%s\" is named twice", w->name);
            return LS_EINVAL;
        }
        cfg->n_workspaces++;
    }
    return LS_OK;
}

const ls_workspace_t *ls_config_workspace(const ls_config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_workspaces; i++)
        if (strcmp(cfg->workspaces[i].name, name ? name : "") == 0)
            return &cfg->workspaces[i];
    return NULL;
}

const char *ls_workspace_label(const char *name)
{
    return name && name[0] ? name : "default";
}

int ls_config_load(const char *path, int require_token, ls_config_t *cfg, char *err, size_t errsz)
{
    ls_config_t c;
    ls_config_defaults(&c);
    int rc = path ? load_file(&c, path, err, errsz) : LS_OK;
    if (rc == LS_OK)
        rc = load_env(&c, err, errsz);
    if (rc == LS_OK && c.unified_token_file[0] && c.unified_token[0] == '\0')
        rc = load_token_file(&c, err, errsz);
    if (rc == LS_OK)
        rc = validate(&c, require_token, err, errsz);
    if (rc == LS_OK)
        rc = load_workspaces(&c, err, errsz);
    if (rc == LS_OK)
        *cfg = c;
    memset(&c, 0, sizeof(c));
    return rc;
}

void ls_config_topic(const ls_config_t *cfg, const char *suffix, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s.%s", cfg->topic_prefix, suffix);
}

/* unified.workspaces as loaded, passwords in base URLs masked. */
static void dump_workspaces(const ls_config_t *cfg, FILE *out)
{
    char url[LS_CFG_STR + 8];
    const char *sep = "";
    fprintf(out, "unified.workspaces = ");
    for (int i = 0; i < cfg->n_workspaces; i++) {
        if (!cfg->workspaces[i].name[0])
            continue;
        ls_config_mask_url(cfg->workspaces[i].base_url, url, sizeof(url));
        fprintf(out, "%s%s=%s|%s", sep, cfg->workspaces[i].name, url, cfg->workspaces[i].token_file);
        sep = ",";
    }
    fprintf(out, "\n");
}

void ls_config_dump(const ls_config_t *cfg, FILE *out)
{
    char url[LS_CFG_STR + 8];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *field = (const char *)cfg + settings[i].offset;
        if (settings[i].secret) {
            fprintf(out, "%s = %s\n", settings[i].key, field[0] ? "(set)" : "(unset)");
        } else if (settings[i].offset == offsetof(ls_config_t, unified_workspaces)) {
            dump_workspaces(cfg, out);
        } else if (settings[i].offset == offsetof(ls_config_t, unified_base_url)) {
            ls_config_mask_url(field, url, sizeof(url));
            fprintf(out, "%s = %s\n", settings[i].key, url);
        } else if (settings[i].type == CFG_STR) {
            fprintf(out, "%s = %s\n", settings[i].key, field);
        } else {
            fprintf(out, "%s = %d\n", settings[i].key, *(const int *)(const void *)field);
        }
    }
}

ls_kafka_conf_t ls_config_kafka(const ls_config_t *cfg)
{
    return (ls_kafka_conf_t){.brokers = cfg->kafka_brokers, .compression = cfg->kafka_compression};
}

ls_strategy_cfg_t ls_config_strategy(const ls_config_t *cfg)
{
    return (ls_strategy_cfg_t){cfg->fanout_records, cfg->full_every, cfg->full_max_age_s, cfg->watermark_overlap_s};
}
