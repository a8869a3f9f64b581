/*
 * ls_diff.c - classify the change between two observations of one activity.
 *
 * Field equality (presence + normalized value) comes from
 * ls_activity_field_equal, so "...Z" vs "....000Z" and 40 vs 40.0 never count
 * as changes. The type is chosen by a fixed precedence ladder; each rung only
 * looks at presence-qualified values, so absence or null never implies a
 * reopen or a regression (an upstream that drops a field is not a learner
 * un-completing an activity). Which fields are compared (diffed) and which
 * of them make an event (changed) is the field table's say (ls_schema.c).
 */
#include "ls_diff.h"
#include "ls_schema.h"

#define BIT(f) (1u << (f))

static bool present_true(const ls_activity_t *a)
{
    return a->pres[LS_F_IS_COMPLETED] == LS_PRESENT && a->is_completed;
}

static bool present_false(const ls_activity_t *a)
{
    return a->pres[LS_F_IS_COMPLETED] == LS_PRESENT && !a->is_completed;
}

/* +1 progressed, -1 regressed, 0 neither. */
static int progress_direction(const ls_activity_t *b, const ls_activity_t *a)
{
    if (a->pres[LS_F_PROGRESS] != LS_PRESENT)
        return 0;
    if (b->pres[LS_F_PROGRESS] != LS_PRESENT)
        return a->progress_percentage > 0 ? 1 : 0;
    if (a->progress_percentage > b->progress_percentage)
        return 1;
    if (a->progress_percentage < b->progress_percentage)
        return -1;
    return 0;
}

static ls_change_type_t classify(const ls_activity_t *b, const ls_activity_t *a)
{
    if (present_true(a) && !present_true(b))
        return LS_CHANGE_COMPLETED;
    if (present_true(b) && present_false(a))
        return LS_CHANGE_REOPENED;
    int dir = progress_direction(b, a);
    if (dir > 0)
        return LS_CHANGE_PROGRESSED;
    if (dir < 0)
        return LS_CHANGE_REGRESSED;
    return LS_CHANGE_UPDATED;
}

static uint32_t present_mask(const ls_activity_t *a)
{
    uint32_t m = 0;
    for (int f = 0; f < LS_F__COUNT; f++)
        if (a->pres[f] != LS_ABSENT)
            m |= BIT(f);
    return m;
}

void ls_diff_compute(const ls_activity_t *before, const ls_activity_t *after, ls_diff_t *out)
{
    const ls_schema_index_t *ix = ls_schema_index();
    out->type = LS_CHANGE_NONE;
    out->changed_mask = out->stored_mask = 0;
    if (after == NULL) {
        if (before != NULL) {
            out->type = LS_CHANGE_REMOVED;
            out->changed_mask = present_mask(before) & ix->changed_mask;
            out->stored_mask = ix->all_mask;
        }
        return;
    }
    if (before == NULL) {
        out->type = LS_CHANGE_CREATED;
        out->changed_mask = present_mask(after) & ix->changed_mask;
        out->stored_mask = ix->all_mask;
        return;
    }
    for (int f = 0; f < LS_F__COUNT; f++)
        if (ls_schema_fields[f].diffed && !ls_activity_field_equal(before, after, (ls_field_t)f))
            out->stored_mask |= BIT(f);
    out->changed_mask = out->stored_mask & ix->changed_mask;
    if (out->changed_mask != 0)
        out->type = classify(before, after);
}

const char *ls_change_type_name(ls_change_type_t t)
{
    switch (t) {
    case LS_CHANGE_NONE: return "none";
    case LS_CHANGE_CREATED: return "created";
    case LS_CHANGE_COMPLETED: return "completed";
    case LS_CHANGE_REOPENED: return "reopened";
    case LS_CHANGE_PROGRESSED: return "progressed";
    case LS_CHANGE_REGRESSED: return "regressed";
    case LS_CHANGE_UPDATED: return "updated";
    case LS_CHANGE_REMOVED: return "removed";
    }
    return "unknown";
}
