/*
 * ls_activity.h - the normalized LmsActivity record and its JSON normalizer.
 *
 * Every upstream field is optional, so each tracked field carries a presence
 * state: absent (key not in the JSON), null (key present with JSON null) or
 * present (a value of the right type). Absent, null and false are three
 * different things and are never collapsed. A field of the wrong type rejects
 * the whole record with a precise reason; values are never coerced. Unknown
 * keys (and "raw") are ignored.
 */
#ifndef LS_ACTIVITY_H
#define LS_ACTIVITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Max byte length of an id or string field (packed state uses 1 length byte). */
#define LS_STR_MAX 255

/*
 * The tracked fields: one row each, the single place a field is declared.
 * X(ENUM, member and wire name, KIND, flags bit, diffed, changed, doc):
 *   KIND     STR (string), BOOL, NUM (number) or TIME (RFC 3339 instant);
 *            it gives the member's C type below and the row's codec in
 *            ls_schema.c;
 *   flag     BOOL only: its bit in the packed state's flags byte, else 0;
 *   diffed   a difference is stored;
 *   changed  a difference is an event and is named in `changed`.
 * The order is part of the packed format (a row's index is its presence
 * slot): append only. The enum, the members of ls_activity_t and the rows
 * of ls_schema_fields[] are all generated from this list.
 */
#define LS_ACTIVITY_FIELDS(X)                                                                         \
    X(LS_F_COURSE_ID, course_id, STR, 0, true, true, "course the activity belongs to")               \
    X(LS_F_STUDENT_ID, student_id, STR, 0, true, true, "learner; keys the change events")            \
    X(LS_F_CONTENT_ID, content_id, STR, 0, true, true, "content item within the course")             \
    X(LS_F_IS_COMPLETED, is_completed, BOOL, 0x01, true, true, "completion; drives completed/reopened") \
    X(LS_F_PROGRESS, progress_percentage, NUM, 0, true, true, "drives progressed/regressed")         \
    X(LS_F_DURATION, duration_minutes, NUM, 0, true, true, "time spent")                             \
    X(LS_F_ASSIGNED_GRADE, assigned_grade, STR, 0, true, true, "grade as a string")                  \
    X(LS_F_STARTED_AT, started_at, TIME, 0, true, true, "first activity")                            \
    X(LS_F_COMPLETED_AT, completed_at, TIME, 0, true, true, "completion instant")                    \
    X(LS_F_CREATED_AT, created_at, TIME, 0, true, true, "record created upstream")                   \
    X(LS_F_UPDATED_AT, updated_at, TIME, 0, true, false, "stored when it changes, but alone never an event")

#define LS_FIELD_ENUM_(e, m, kind, flag, diffed, changed, doc) e,
typedef enum ls_field {
    LS_ACTIVITY_FIELDS(LS_FIELD_ENUM_)
    LS_F__COUNT
} ls_field_t;

typedef enum ls_presence {
    LS_ABSENT = 0,
    LS_NULL = 1,
    LS_PRESENT = 2
} ls_presence_t;

/* The C type of a member, by the row's KIND. */
#define LS_FIELD_CTYPE_STR(m) char m[LS_STR_MAX + 1];
#define LS_FIELD_CTYPE_BOOL(m) bool m;
#define LS_FIELD_CTYPE_NUM(m) double m;
#define LS_FIELD_CTYPE_TIME(m) int64_t m;
#define LS_FIELD_MEMBER_(e, m, kind, flag, diffed, changed, doc) LS_FIELD_CTYPE_##kind(m)

typedef struct ls_activity {
    char id[LS_STR_MAX + 1];               /* always set: a record without id is rejected */
    uint8_t pres[LS_F__COUNT];             /* ls_presence_t per field */
    LS_ACTIVITY_FIELDS(LS_FIELD_MEMBER_)   /* one member per row; instants: ms since epoch, UTC */
} ls_activity_t;

/** Wire name of a field ("progress_percentage"); NULL for an invalid value. */
const char *ls_field_name(ls_field_t f);

/** Reset to an empty record: no id, every field absent. */
void ls_activity_clear(ls_activity_t *a);

/**
 * Normalize one JSON object (borrowed) into *out.
 * Accepts absent and null for every field; timestamps in any RFC 3339 form;
 * ignores unknown keys. Rejects: a non-object, a missing/empty/non-string id,
 * a field of the wrong JSON type, an unparseable timestamp, a non-finite
 * number, a string longer than LS_STR_MAX bytes.
 * Numbers are JSON integers or reals (-0 is stored as +0); a string with an
 * embedded NUL is rejected. *out is cleared first and left cleared on error.
 * @return 0, or LS_EINVAL with a one-line reason naming the field written to
 *         err (e.g. "field 'progress_percentage': expected number, got string");
 *         err may be NULL / errsz 0.
 */
int ls_activity_from_json(const json_t *obj, ls_activity_t *out,
                          char *err, size_t errsz);

/**
 * One JSON value as a parser saw it, independent of the parser: lets
 * ls_page (which never builds json_t trees) share the exact validation and
 * reject reasons of ls_activity_from_json. Borrowed: str points to decoded
 * string bytes (escapes resolved, not NUL-terminated, may contain NUL) owned
 * by the caller for the duration of the call.
 */
typedef enum ls_jtype {
    LS_JT_NULL = 0,
    LS_JT_BOOL,
    LS_JT_NUMBER,      /* JSON integer or real, as a double */
    LS_JT_STRING,
    LS_JT_OBJECT,
    LS_JT_ARRAY
} ls_jtype_t;

typedef struct ls_jval {
    ls_jtype_t type;
    bool boolean;       /* LS_JT_BOOL */
    double number;      /* LS_JT_NUMBER */
    const char *str;    /* LS_JT_STRING: len decoded bytes */
    size_t len;
} ls_jval_t;

/**
 * A record's tracked keys: is_object false for a non-object element; a NULL
 * pointer means the key is absent. With duplicate keys, pass the value a
 * JSON parser keeps (jansson keeps the last one). All pointers borrowed.
 */
typedef struct ls_activity_src {
    bool is_object;
    const ls_jval_t *id;
    const ls_jval_t *field[LS_F__COUNT];
} ls_activity_src_t;

/**
 * The parser-independent core of ls_activity_from_json: same checks, same
 * order (id first, then fields in ls_field_t order), same reasons, and *out
 * cleared first and left cleared on error.
 * @return 0, or LS_EINVAL with the reason in err (err may be NULL / errsz 0).
 */
int ls_activity_from_src(const ls_activity_src_t *src, ls_activity_t *out,
                         char *err, size_t errsz);

/**
 * The record as JSON (new reference): "id" plus every tracked field that is
 * not absent; null fields as JSON null; instants in ls_time_format() form;
 * integral numbers within +-2^53 as JSON integers (40, not 40.0), others as reals.
 * @return NULL only on allocation failure.
 */
json_t *ls_activity_to_json(const ls_activity_t *a);

/*
 * Bytes ls_activity_write_json() may write at most (no NUL): five strings
 * (id and the four string fields) of LS_STR_MAX bytes escaped at up to 6
 * bytes each, plus keys, four instants, two numbers and a boolean; checked
 * against the field table by tests/unit/test_schema.c.
 */
#define LS_ACTIVITY_JSON_MAX 8192

/**
 * Write the record as compact JSON to out, byte for byte what jansson 2.14's
 * json_dumps(ls_activity_to_json(a), JSON_SORT_KEYS | JSON_COMPACT) gives,
 * without building a tree. out must hold LS_ACTIVITY_JSON_MAX bytes; no NUL
 * is written.
 * @return the number of bytes written, or 0 when a string to write is not
 *         valid UTF-8 (json_string() refuses it, so ls_activity_to_json would
 *         fail) or not NUL-terminated within its field.
 */
size_t ls_activity_write_json(const ls_activity_t *a, char *out);

/**
 * Write the len bytes at s as a JSON string literal, quotes included, escaped
 * as jansson 2.14's json_dumps does without JSON_ENSURE_ASCII and
 * JSON_ESCAPE_SLASH: \" \\ \b \f \n \r \t, other bytes below 0x20 as \u00XX
 * (upper-case hex); '/', DEL and non-ASCII UTF-8 are copied as they are.
 * out must hold 6 * len + 2 bytes; no NUL is written. Shared with ls_event so
 * that every string of a change event is encoded by one function.
 * @return bytes written, or 0 when s is not valid UTF-8 (RFC 3629: no
 *         overlong forms, surrogates or code points above U+10FFFF), which
 *         json_string() rejects.
 */
size_t ls_activity_write_jstring(const char *s, size_t len, char *out);

/** True when field f has the same presence and value in a and b. Numbers compare numerically. */
bool ls_activity_field_equal(const ls_activity_t *a, const ls_activity_t *b, ls_field_t f);

#endif
