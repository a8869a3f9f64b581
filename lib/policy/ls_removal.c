/*
 * ls_removal.c - the shrink guard and the fate of an unseen activity, as
 * pure functions (see ls_removal.h for the rules).
 */
#include "ls_removal.h"

#include <stdio.h>

void ls_shrink_guard(const ls_shrink_cfg_t *cfg, const ls_shrink_in_t *in, ls_shrink_out_t *out, char *why,
                     size_t whysz)
{
    /* no baseline yet (first complete scan): what is stored for the scope */
    long long base = in->last_full_count >= 0 ? in->last_full_count : in->in_scope;
    long long n = in->seen;
    *out = (ls_shrink_out_t){LS_SHRINK_PASS, -1, 0, -1};
    why[0] = '\0';
    if (in->unidentified) {
        out->verdict = LS_SHRINK_UNIDENTIFIED;
        snprintf(why, whysz, "%zu rejected records without a usable id", in->unidentified);
        return;
    }
    if (!(base > 0 && n * 100 < base * cfg->min_ratio_pct))
        return;
    long long cand = in->shrink_count, streak = in->shrink_scans;
    long long diff = cand > n ? cand - n : n - cand, big = cand > n ? cand : n;
    streak = cand >= 0 && diff * 100 <= big * cfg->tolerance_pct ? streak + 1 : 1;
    int k = snprintf(why, whysz, "scan saw %lld records, below %d%% of the last complete scan's %lld "
                     "(worker.removal_min_ratio_pct)", n, cfg->min_ratio_pct, base);
    size_t off = k < 0 ? 0 : (size_t)k < whysz ? (size_t)k : whysz - 1;
    if (cfg->accept_scans > 0 && streak >= cfg->accept_scans) {
        out->verdict = LS_SHRINK_ACCEPTED;
        out->last_full_count = n;
        snprintf(why + off, whysz - off, "; %lld consecutive complete scans agreed, so %lld is the new "
                 "baseline (worker.shrink_accept_scans)", streak, n);
        return;
    }
    out->verdict = LS_SHRINK_GUARDED;
    out->shrink_count = n;
    out->shrink_scans = streak;
    snprintf(why + off, whysz - off, "; agreeing complete scans %lld of %d", streak, cfg->accept_scans);
}

ls_gone_action_t ls_gone_decide(const ls_gone_in_t *in, const char **why)
{
    if (!in->misses) {
        *why = "first miss: marked";
        return LS_GONE_MARK;
    }
    if (in->has_get) {
        *why = "second miss: confirmed with a per-record get";
        return LS_GONE_RECHECK;
    }
    if (in->course_scoped) {
        *why = "second miss in a course scan without a per-record get: it may have moved to another course";
        return LS_GONE_HOLD;
    }
    *why = "second miss of a connection-wide scan";
    return LS_GONE_REMOVE;
}

ls_gone_action_t ls_recheck_decide(ls_recheck_answer_t a, int attempt, int max_retries, const char **why)
{
    switch (a) {
    case LS_RECHECK_NOT_FOUND:
        *why = "per-record get answered 404";
        return LS_GONE_REMOVE;
    case LS_RECHECK_FOUND:
        *why = "per-record get found it: it still exists upstream";
        return LS_GONE_UPDATE;
    case LS_RECHECK_TRANSIENT:
        if (attempt < max_retries) {
            *why = "per-record get failed transiently: asked again after a backoff";
            return LS_GONE_RECHECK;
        }
        *why = "per-record get kept failing: asked again by the next complete scan";
        return LS_GONE_HOLD;
    case LS_RECHECK_INVALID:
        *why = "per-record get answered something that is not this activity";
        return LS_GONE_HOLD;
    case LS_RECHECK_FAILED:
    default:
        *why = "per-record get failed";
        return LS_GONE_HOLD;
    }
}

const char *ls_gone_action_name(ls_gone_action_t a)
{
    static const char *const names[] = {"mark", "recheck", "remove", "update", "hold"};
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}
