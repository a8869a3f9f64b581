/* Unit tests of ls_config: defaults, file parsing, environment overrides, errors. */
#include "ls_config.h"
#include "ls_err.h"
#include "ls_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/ls-config-test-%ld.conf", (long)getpid());
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int load(const char *text, int require_token, ls_config_t *cfg, char *err)
{
    write_file(text);
    int rc = ls_config_load(path, require_token, cfg, err, 512);
    unlink(path);
    return rc;
}

static void clear_env(void)
{
    unsetenv("UNIFIED_API_TOKEN");
    unsetenv("KAFKA_BROKERS");
    unsetenv("LMSYNC_KAFKA_BROKERS");
    unsetenv("LMSYNC_WORKER_PAGE_LIMIT");
}

static void test_file_values(void)
{
    ls_config_t c;
    char err[512];
    clear_env();
    CU_ASSERT_EQUAL(load("# comment\n kafka.brokers = a:1,b:2 \n\nworker.page_limit=50\n", 0, &c, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(c.kafka_brokers, "a:1,b:2");
    CU_ASSERT_EQUAL(c.page_limit, 50);
    CU_ASSERT_EQUAL(c.poll_interval_s, 300);            /* default kept */
    CU_ASSERT_EQUAL(c.enrichment_enabled, 1);
    CU_ASSERT_EQUAL(c.enrichment_refresh_s, 3600);
    CU_ASSERT_STRING_EQUAL(c.enrichment_student_fields, "");
    CU_ASSERT_STRING_EQUAL(c.topic_prefix, "lmsync");
}

static void test_env_overrides(void)
{
    ls_config_t c;
    char err[512];
    clear_env();
    setenv("LMSYNC_WORKER_PAGE_LIMIT", "7", 1);
    setenv("KAFKA_BROKERS", "k:9", 1);
    setenv("UNIFIED_API_TOKEN", "tok", 1);
    CU_ASSERT_EQUAL(load("worker.page_limit = 50\n", 1, &c, err), LS_OK);
    CU_ASSERT_EQUAL(c.page_limit, 7);
    CU_ASSERT_STRING_EQUAL(c.kafka_brokers, "k:9");
    CU_ASSERT_STRING_EQUAL(c.unified_token, "tok");
    setenv("LMSYNC_KAFKA_BROKERS", "specific:1", 1);   /* specific beats generic */
    CU_ASSERT_EQUAL(load("", 1, &c, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(c.kafka_brokers, "specific:1");
    clear_env();
}

static void expect_error(const char *text, int require_token, const char *fragment)
{
    ls_config_t c;
    char err[512] = "";
    CU_ASSERT_EQUAL(load(text, require_token, &c, err), LS_EINVAL);
    if (!strstr(err, fragment))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, fragment);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, fragment));
}

static void test_errors(void)
{
    clear_env();
    expect_error("kafka.brokers = x\nworker.page_limit = 0\n", 0, "'worker.page_limit' must be between 1 and 1000");
    expect_error("kafka.brokers = x\nworker.page_limit = 12abc\n", 0, "must be an integer");
    expect_error("kafka.brokers = x\nbogus = 1\n", 0, ":2: unknown setting 'bogus'");
    expect_error("kafka.brokers = x\njust words\n", 0, ":2: expected 'key = value'");
    expect_error("", 0, "'kafka.brokers' is empty");
    expect_error("kafka.brokers = x\n", 1, "UNIFIED_API_TOKEN");
    expect_error("kafka.brokers = x\nunified.token = abc\n", 0, "is a secret");
    expect_error("kafka.brokers = x\nunified.base_url = ftp://x\n", 0, "'unified.base_url'");
    expect_error("kafka.brokers = x\nlog.format = xml\n", 0, "'log.format'");
    expect_error("kafka.brokers = x\ncoordinator.compression = brotli\n", 0,
                 "setting 'coordinator.compression' must be none, gzip, snappy, lz4 or zstd, got \"brotli\"");
    expect_error("kafka.brokers = x\nkafka.topic_prefix = a b\n", 0, "'kafka.topic_prefix'");
    expect_error("kafka.brokers = x\nunified.token_file = /nonexistent/tok\n", 1, "'unified.token_file'");
    expect_error("kafka.brokers = x\nkafka.compression = brotli\n", 0, "'kafka.compression' must be none, gzip");
    expect_error("kafka.brokers = x\nops.listen = 9464\n", 0, "'ops.listen' must be HOST:PORT");
    expect_error("kafka.brokers = x\nops.listen = somehost:9464\n", 0, "'ops.listen'");
    expect_error("kafka.brokers = x\nboard.listen = 8080\n", 0, "'board.listen' must be HOST:PORT");
    expect_error("kafka.brokers = x\nboard.listen = \n", 0, "'board.listen' must be HOST:PORT");
    expect_error("kafka.brokers = x\nboard.listen = 127.0.0.1:70000\n", 0, "'board.listen': port must be 0..65535");
    expect_error("kafka.brokers = x\nboard.max_clients = 0\n", 0, "'board.max_clients' must be between 1 and 1000");
    expect_error("kafka.brokers = x\nworker.group_id =\n", 0, "setting 'worker.group_id' is empty");
    expect_error("kafka.brokers = x\nworker.tenant_max_share = 1.5\n", 0,
                 "setting 'worker.tenant_max_share' must be a number in (0, 1] (a fraction of worker.max_in_flight; "
                 "1 = no cap), got \"1.5\"");
    expect_error("kafka.brokers = x\nworker.tenant_max_share = half\n", 0, "'worker.tenant_max_share' must be a number");
    expect_error("kafka.brokers = x\nenrichment.refresh_s = 0\n", 0, "'enrichment.refresh_s' must be between 1 and");
    expect_error("kafka.brokers = x\nenrichment.enabled = 2\n", 0, "'enrichment.enabled' must be between 0 and 1");
    expect_error("kafka.brokers = x\nenrichment.student_fields = name,password\n", 0,
                 "'enrichment.student_fields': \"password\" is not a student field");
    expect_error("kafka.brokers = x\nenrichment.student_fields = name,emails\n", 0,
                 "'enrichment.student_fields': fetching student fields is not built");
    expect_error("kafka.brokers = x\nunified.base_url = http://\n", 0, "setting 'unified.base_url' has no host");
    expect_error("kafka.brokers = x\nunified.base_url = https://u:p@/v1\n", 0, "setting 'unified.base_url' has no host");
    expect_error("kafka.brokers = x\nunified.base_url = http://:8080\n", 0, "setting 'unified.base_url' has no host");
    expect_error("kafka.brokers = x\nunified.token_file = /tmp\n", 1, "setting 'unified.token_file': \"/tmp\" is a directory");
    expect_error("kafka.brokers = x\nunified.max_response_mb = 0\n", 0, "'unified.max_response_mb' must be between 1 and 4096");
    expect_error("kafka.brokers = x\nrollups.idle_days = 0\n", 0, "'rollups.idle_days' must be between 1 and 3650");
}

/* An error about unified.base_url never shows its password. */
static void test_base_url_error_masks_password(void)
{
    ls_config_t c;
    char err[512] = "";
    clear_env();
    CU_ASSERT_EQUAL(load("kafka.brokers = x\nunified.base_url = ftp://me:hunter2@h\n", 0, &c, err), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ftp://me:****@h"));
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
}

/* A control character in the token (it goes into an HTTP header) fails the load; the token is never shown. */
static void test_token_control_chars(void)
{
    static const char *bad[] = {"abc\r\nX-Evil: 1", "abc\ndef", "a\tb", "ab\x7f", "\x01" "abc"};
    ls_config_t c;
    char err[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        clear_env();
        setenv("UNIFIED_API_TOKEN", bad[i], 1);
        err[0] = '\0';
        CU_ASSERT_EQUAL(load("kafka.brokers = x\n", 1, &c, err), LS_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "setting 'unified.token'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "control character"));
        CU_ASSERT_PTR_NULL(strstr(err, "abc"));
        CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    }
    /* from a token file: inner CR/LF rejected, the trailing newline trimmed as before */
    char tok[64], text[160];
    snprintf(tok, sizeof(tok), "/tmp/ls-token-cr-%ld", (long)getpid());
    FILE *f = fopen(tok, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("abc\r\ndef\n", f);
    fclose(f);
    clear_env();
    snprintf(text, sizeof(text), "kafka.brokers = x\nunified.token_file = %s\n", tok);
    CU_ASSERT_EQUAL(load(text, 1, &c, err), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "control character at byte 3"));
    unlink(tok);
    clear_env();
}

/* --check-config output: the token as (set), a password in unified.base_url masked. */
static void test_dump_masks_secrets(void)
{
    ls_config_t c;
    char err[512], out[8192];
    clear_env();
    setenv("UNIFIED_API_TOKEN", "tok-secret", 1);
    CU_ASSERT_EQUAL_FATAL(load("kafka.brokers = x\nunified.base_url = https://user:pa:ss@api.example:8443/v1?q=a@b\n",
                               1, &c, err), LS_OK);
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    ls_config_dump(&c, f);
    rewind(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "unified.base_url = https://user:****@api.example:8443/v1?q=a@b\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "unified.token = (set)\n"));
    CU_ASSERT_PTR_NULL(strstr(out, "pa:ss"));
    CU_ASSERT_PTR_NULL(strstr(out, "tok-secret"));
    char buf[128];
    ls_config_mask_url("https://api.unified.to", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "https://api.unified.to");
    ls_config_mask_url("http://user@host/p", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "http://user@host/p");
    ls_config_mask_url("http://u:p@x@host", buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL(buf, "http://u:****@host");
    clear_env();
}

static void test_token_file(void)
{
    ls_config_t c;
    char err[512], tok[64], text[160];
    clear_env();
    snprintf(tok, sizeof(tok), "/tmp/ls-token-%ld", (long)getpid());
    FILE *f = fopen(tok, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("  secret-token\n", f);
    fclose(f);
    snprintf(text, sizeof(text), "kafka.brokers = x\nunified.token_file = %s\n", tok);
    CU_ASSERT_EQUAL(load(text, 1, &c, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(c.unified_token, "secret-token");
    unlink(tok);
}

static void test_failed_load_leaves_config(void)
{
    ls_config_t c;
    char err[512];
    clear_env();
    ls_config_defaults(&c);
    c.page_limit = 42;
    CU_ASSERT_EQUAL(load("kafka.brokers = x\nworker.page_limit = -1\n", 0, &c, err), LS_EINVAL);
    CU_ASSERT_EQUAL(c.page_limit, 42); /* all-or-nothing */
}

/* A token file holding tok; its path into p. */
static void token_file(char *p, size_t n, const char *name, const char *tok)
{
    snprintf(p, n, "/tmp/ls-config-test-%ld-%s.token", (long)getpid(), name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "%s\n", tok);
    fclose(f);
}

static void test_workspaces(void)
{
    ls_config_t c;
    char err[512], eu[96], au[96], text[1024];
    clear_env();
    token_file(eu, sizeof(eu), "eu", "eu-secret");
    token_file(au, sizeof(au), "au", "au-secret");
    /* no default token: only the named workspaces, each with its own URL and token */
    snprintf(text, sizeof(text), "kafka.brokers = k:1\nunified.workspaces = eu=https://api-eu.unified.to|%s , "
             "au = http://127.0.0.1:8080/base | %s\n", eu, au);
    CU_ASSERT_EQUAL_FATAL(load(text, 1, &c, err), LS_OK);
    CU_ASSERT_EQUAL(c.n_workspaces, 2);
    CU_ASSERT_STRING_EQUAL(c.workspaces[0].name, "eu");
    CU_ASSERT_STRING_EQUAL(c.workspaces[0].base_url, "https://api-eu.unified.to");
    CU_ASSERT_STRING_EQUAL(c.workspaces[0].token, "eu-secret");
    CU_ASSERT_STRING_EQUAL(c.workspaces[1].base_url, "http://127.0.0.1:8080/base");
    CU_ASSERT_STRING_EQUAL(ls_config_workspace(&c, "au")->token, "au-secret");
    CU_ASSERT_PTR_NULL(ls_config_workspace(&c, ""));
    CU_ASSERT_PTR_NULL(ls_config_workspace(&c, "us"));
    /* with a default token the default workspace comes first */
    setenv("UNIFIED_API_TOKEN", "us-secret", 1);
    CU_ASSERT_EQUAL_FATAL(load(text, 1, &c, err), LS_OK);
    CU_ASSERT_EQUAL(c.n_workspaces, 3);
    CU_ASSERT_STRING_EQUAL(c.workspaces[0].name, "");
    CU_ASSERT_STRING_EQUAL(ls_config_workspace(&c, NULL)->token, "us-secret");
    CU_ASSERT_STRING_EQUAL(ls_workspace_label(""), "default");
    /* single workspace: unchanged */
    CU_ASSERT_EQUAL_FATAL(load("kafka.brokers = k:1\n", 1, &c, err), LS_OK);
    CU_ASSERT_EQUAL(c.n_workspaces, 1);
    CU_ASSERT_STRING_EQUAL(c.workspaces[0].base_url, "https://api.unified.to");
    /* dump: token files and masked URLs, never a token */
    snprintf(text, sizeof(text), "kafka.brokers = k:1\nunified.workspaces = eu=https://u:pw@api-eu.unified.to|%s\n", eu);
    CU_ASSERT_EQUAL_FATAL(load(text, 1, &c, err), LS_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ls_config_dump(&c, m);
    fclose(m);
    CU_ASSERT(strstr(buf, "eu=https://u:****@api-eu.unified.to|") != NULL);
    CU_ASSERT(strstr(buf, "eu-secret") == NULL && strstr(buf, "us-secret") == NULL && strstr(buf, "pw@") == NULL);
    free(buf);
    unlink(eu);
    unlink(au);
    clear_env();
}

static void test_workspace_errors(void)
{
    char eu[96], text[1024];
    clear_env();
    token_file(eu, sizeof(eu), "eu2", "eu-secret");
    static const struct { const char *spec, *fragment; } cases[] = {
        {"eu=https://api-eu.unified.to", "entry \"eu=https://api-eu.unified.to\" is not NAME=BASE_URL|TOKEN_FILE"},
        {"EU=https://api-eu.unified.to|TOKEN", "workspace name \"EU\" may hold only [a-z0-9_-]"},
        {"default=https://api-eu.unified.to|TOKEN", "workspace name \"default\" is reserved"},
        {"=https://api-eu.unified.to|TOKEN", "workspace name \"\" must be 1 to 31 bytes long"},
        {"eu=ftp://api-eu.unified.to|TOKEN", "setting 'unified.workspaces' (workspace \"eu\") must start with http://"},
        {"eu=https://api-eu.unified.to|/nonexistent/eu.token", "(workspace \"eu\"): cannot open \"/nonexistent/eu.token\""},
        {"eu=https://api-eu.unified.to|", "(workspace \"eu\"): base URL or token file missing"},
        {"eu=https://a.example|TOKEN,eu=https://b.example|TOKEN", "workspace \"eu\" is named twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[512];
        size_t n = 0;
        for (const char *q = cases[i].spec; *q && n + sizeof(eu) < sizeof(spec); q++) /* TOKEN = the token file */
            if (strncmp(q, "TOKEN", 5) == 0) {
                n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s", eu);
                q += 4;
            } else {
                spec[n++] = *q;
            }
        spec[n] = '\0';
        snprintf(text, sizeof(text), "kafka.brokers = k:1\nunified.workspaces = %s\n", spec);
        expect_error(text, 1, cases[i].fragment);
    }
    unlink(eu);
}

/* webhook.workspace: a workspace name, or empty (the default workspace). */
static void test_webhook_workspace(void)
{
    ls_config_t cfg;
    char err[512];
    clear_env();
    CU_ASSERT_EQUAL(load("kafka.brokers = k:1\nwebhook.workspace = eu\n", 0, &cfg, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(cfg.webhook_workspace, "eu");
    CU_ASSERT_EQUAL(load("kafka.brokers = k:1\n", 0, &cfg, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(cfg.webhook_workspace, "");
    expect_error("kafka.brokers = k:1\nwebhook.workspace = EU\n", 0, "setting 'webhook.workspace': may hold only [a-z0-9_-]");
}

/* webhook.subscribe, webhook.hook_url: the modes, a URL when subscribing, defaults. */
static void test_webhook_subscribe(void)
{
    ls_config_t cfg;
    char err[512];
    clear_env();
    CU_ASSERT_EQUAL(load("kafka.brokers = k:1\n", 0, &cfg, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(cfg.webhook_subscribe, "off");
    CU_ASSERT_EQUAL(cfg.webhook_virtual_interval_min, 60);
    CU_ASSERT_EQUAL(cfg.webhook_subscribe_refresh_s, 300);
    CU_ASSERT_EQUAL(cfg.webhook_reconcile_interval_s, 0);
    CU_ASSERT_EQUAL(load("kafka.brokers = k:1\nwebhook.subscribe = native+virtual\n"
                         "webhook.hook_url = https://hooks.example.com/webhook\n", 0, &cfg, err), LS_OK);
    CU_ASSERT_STRING_EQUAL(cfg.webhook_hook_url, "https://hooks.example.com/webhook");
    expect_error("kafka.brokers = k:1\nwebhook.subscribe = all\n", 0,
                 "setting 'webhook.subscribe' must be off, native or native+virtual, got \"all\"");
    expect_error("kafka.brokers = k:1\nwebhook.subscribe = native\n", 0,
                 "setting 'webhook.hook_url' is empty: webhook.subscribe = native needs");
    expect_error("kafka.brokers = k:1\nwebhook.subscribe = native\nwebhook.hook_url = ftp://x/y\n", 0,
                 "setting 'webhook.hook_url' must be an http:// or https:// URL");
    expect_error("kafka.brokers = k:1\nwebhook.virtual_interval_min = 0\n", 0, "webhook.virtual_interval_min");
}

static CU_TestInfo tests[] = {
    {"webhook.subscribe, webhook.hook_url", test_webhook_subscribe},
    {"webhook.workspace", test_webhook_workspace},
    {"workspaces: names, URLs, tokens, default first", test_workspaces},
    {"workspaces: precise errors", test_workspace_errors},
    {"file values", test_file_values},
    {"environment overrides", test_env_overrides},
    {"errors name the setting", test_errors},
    {"token file", test_token_file},
    {"base_url errors mask the password", test_base_url_error_masks_password},
    {"token with a control character", test_token_control_chars},
    {"--check-config masks secrets", test_dump_masks_secrets},
    {"failed load changes nothing", test_failed_load_leaves_config},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"config", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
LS_TEST_MAIN(suites)
