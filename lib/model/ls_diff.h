/*
 * ls_diff.h - the change detection rules (docs/design.md, Change rules).
 *
 * One change per activity, typed by the most significant transition:
 *   created > completed > reopened > progressed / regressed > updated.
 * - created:    no prior state.
 * - completed:  is_completed becomes true (from false, null or absent).
 * - reopened:   is_completed goes from true to false (never from absence/null).
 * - progressed: progress_percentage rises (a present value above a prior one;
 *               from absent/null, any present value > 0).
 * - regressed:  progress_percentage falls between two present values.
 * - updated:    any other tracked field changed (including presence changes).
 * A change of updated_at alone is not an event (LS_CHANGE_NONE), but it is
 * still reported in stored_mask so the caller can store the new state.
 */
#ifndef LS_DIFF_H
#define LS_DIFF_H

#include <stdint.h>
#include "ls_activity.h"

typedef enum ls_change_type {
    LS_CHANGE_NONE = 0,
    LS_CHANGE_CREATED,
    LS_CHANGE_COMPLETED,
    LS_CHANGE_REOPENED,
    LS_CHANGE_PROGRESSED,
    LS_CHANGE_REGRESSED,
    LS_CHANGE_UPDATED,
    LS_CHANGE_REMOVED
} ls_change_type_t;

typedef struct ls_diff {
    ls_change_type_t type;
    uint32_t changed_mask;   /* bit (1u << ls_field_t): event-worthy fields that differ */
    uint32_t stored_mask;    /* bit per field that differs at all (incl. updated_at) */
} ls_diff_t;

/**
 * Compare prior state (NULL = never observed) with the new observation.
 * For before == NULL: type CREATED, changed_mask = every non-absent field of
 * after except updated_at, stored_mask = all bits.
 * changed_mask never has the updated_at bit; type is LS_CHANGE_NONE exactly
 * when changed_mask is 0. after == NULL (removal, decided by the caller):
 * type REMOVED, changed_mask = every non-absent field of before except
 * updated_at, stored_mask = all bits; both NULL gives NONE.
 */
void ls_diff_compute(const ls_activity_t *before, const ls_activity_t *after, ls_diff_t *out);

/** Lower-case name: "created", "completed", ... ; "none" for LS_CHANGE_NONE. */
const char *ls_change_type_name(ls_change_type_t t);

#endif
