/*
 * db_app.c - lmsync-devbroker's lifecycle.
 *
 * Order matters for callers that wait on the bootstrap file: topics are
 * created before the bootstrap line and file appear, so anything that sees
 * the file can produce to the lmsync topics at once. The control port file
 * is written before the bootstrap file for the same reason.
 */
#include "db_app.h"
#include "db_cluster.h"
#include "db_control.h"
#include "ls_err.h"
#include "ls_log.h"

#include "ls_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Write content to path via path.tmp + rename, so readers never see half a file. */
static int write_file_atomic(const char *path, const char *content)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        ls_error("file '%s': path too long", path);
        return LS_EINVAL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        ls_error("cannot create '%s': %s", tmp, strerror(errno));
        return LS_EIO;
    }
    int ok = fputs(content, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        ls_error("cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        return LS_EIO;
    }
    return LS_OK;
}

static int create_topics(db_cluster_t *c, const db_config_t *cfg)
{
    static const char *const names[] = {"poll.jobs", "activity.changes", "activity.state", "sync.status",
                                        "poll.dlq", "xapi.dlq", "coordinator.schedule", "coordinator.leader",
                                        "activity.current", "control", "progress.enrollments", "progress.courses"};
    int rf = cfg->brokers < 3 ? cfg->brokers : 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char topic[256];
        int parts = strstr(names[i], ".dlq") || strstr(names[i], ".leader") || strcmp(names[i], "control") == 0
                        ? 1
                        : cfg->partitions;
        snprintf(topic, sizeof(topic), "%s.%s", cfg->prefix, names[i]);
        int rc = db_cluster_topic_create(c, topic, parts, rf);
        if (rc != LS_OK) {
            ls_error("cannot create topic '%s': %s", topic, ls_strerror(rc));
            return rc;
        }
        ls_info("topic '%s': %d partition(s), replication factor %d", topic, parts, rf);
    }
    return LS_OK;
}

/* Start the control API and write its port file; NULL on failure. */
static db_control_t *start_control(db_cluster_t *c, const db_config_t *cfg)
{
    char err[512], line[32];
    db_control_t *ctl = db_control_new(c, cfg->control_port, err, sizeof(err));
    if (!ctl) {
        ls_error("control api: %s", err);
        return NULL;
    }
    ls_info("control api on http://127.0.0.1:%d", db_control_port(ctl));
    snprintf(line, sizeof(line), "%d\n", db_control_port(ctl));
    if (cfg->control_port_file && write_file_atomic(cfg->control_port_file, line) != LS_OK) {
        db_control_destroy(ctl);
        return NULL;
    }
    return ctl;
}

static int announce(const db_cluster_t *c, const db_config_t *cfg)
{
    const char *bs = db_cluster_bootstraps(c);
    char line[4096];
    printf("lmsync-devbroker bootstrap %s\n", bs);
    fflush(stdout);
    ls_info("mock cluster of %d broker(s) up, bootstrap '%s'", cfg->brokers, bs);
    if (!cfg->bootstrap_file)
        return LS_OK;
    snprintf(line, sizeof(line), "%s\n", bs);
    return write_file_atomic(cfg->bootstrap_file, line);
}

int db_app_run(const db_config_t *cfg)
{
    char err[512];
    db_control_t *ctl = NULL;
    db_cluster_t *c = db_cluster_new(cfg->brokers, err, sizeof(err));
    if (!c) {
        ls_error("mock cluster: %s", err);
        return 1;
    }
    int rc = create_topics(c, cfg);
    if (rc == LS_OK && !(ctl = start_control(c, cfg)))
        rc = LS_EIO;
    if (rc == LS_OK)
        rc = announce(c, cfg);
    while (rc == LS_OK && !ls_daemon_stop)
        db_cluster_poll(c, 200);
    if (ls_daemon_stop)
        ls_info("signal received: stopping");
    db_control_destroy(ctl);
    db_cluster_destroy(c);
    if (rc == LS_OK)
        ls_info("stopped");
    return rc == LS_OK ? 0 : 1;
}
