/*
 * ls_state.h - packed binary encoding of an activity's tracked state.
 *
 * This is the value stored in LMDB and in the lmsync.activity.state changelog.
 * The activity id is not in the value (it is in the key). The encoding is
 * canonical: equal records produce identical bytes, so the bytes can be
 * hashed into deterministic event ids. Layout (version 1):
 *
 *   u8  version (=1)
 *   u8  presence[3]   2 bits per field, field order of ls_field_t: field f is
 *                     (presence[f / 4] >> (2 * (f % 4))) & 3; unused bits 0
 *   u8  flags         bit0 = is_completed value (only when it is PRESENT);
 *                     other bits 0
 *   then, for each PRESENT field in ls_field_t order, as its row of the field
 *   table (ls_schema.c) says (ls_pack_t):
 *     strings: u8 length + bytes (no NUL terminator)
 *     is_completed: nothing (its value is flags bit0)
 *     numbers: 8-byte IEEE-754 double, little endian
 *     instants: zig-zag varint of ms since epoch (LEB128, shortest form)
 *
 * Canonical forms: -0.0 is written as +0.0; strings are NUL-free UTF-8.
 * Unpack rejects every byte string pack cannot produce, so a successful
 * unpack re-packs to the identical bytes.
 * A typical record (three ~20-byte ids, two numbers, four timestamps) is
 * about 100-120 bytes; the target is under 150.
 */
#ifndef LS_STATE_H
#define LS_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"

#define LS_STATE_VERSION 1
/* Upper bound of a packed record: header + 4 strings + 2 doubles + 4 varints;
 * tests/unit/test_schema.c checks it against the field table. */
#define LS_STATE_MAX (5 + 4 * (1 + LS_STR_MAX) + 2 * 8 + 4 * 10)

/**
 * Pack a's tracked fields (not its id) into buf (cap bytes).
 * @return 0 with *len set, or LS_EFULL when cap is too small (LS_STATE_MAX
 *         always suffices), or LS_EINVAL for a record no JSON input can
 *         produce (presence value > 2, unterminated or non-UTF-8 string,
 *         non-finite number).
 */
int ls_state_pack(const ls_activity_t *a, uint8_t *buf, size_t cap, size_t *len);

/**
 * Unpack into *out (its id is left empty; the caller sets it from the key).
 * @return 0, or LS_EINVAL for a truncated, over-long, unknown-version or
 *         otherwise malformed buffer (never reads past len).
 */
int ls_state_unpack(const uint8_t *buf, size_t len, ls_activity_t *out);

#endif
