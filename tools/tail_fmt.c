/*
 * tail_fmt.c - JSON and human renderings of a message.
 *
 * Kafka keys, values and headers are arbitrary bytes, but both outputs are
 * text meant for jq and terminals: invalid UTF-8 is replaced rather than
 * passed through (jansson would refuse it), and control characters are
 * escaped in the line format so one message is always one line.
 */
#include "tail_fmt.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable string buffer; on allocation failure it sets oom and stops growing. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_addn(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(sbuf_t *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_addn(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static char *sb_finish(sbuf_t *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s)
        return strdup("");
    return b->s;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    size_t n;
    unsigned cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xE0) == 0xC0) { n = 2; cp = p[0] & 0x1Fu; }
    else if ((p[0] & 0xF0) == 0xE0) { n = 3; cp = p[0] & 0x0Fu; }
    else if ((p[0] & 0xF8) == 0xF0) { n = 4; cp = p[0] & 0x07u; }
    else return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Append bytes as UTF-8 text; invalid bytes become U+FFFD. With esc_ctl,
 * control characters are written as \n, \t or \xNN. */
static void sb_add_text(sbuf_t *b, const void *data, size_t len, int esc_ctl)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) {
            sb_add(b, "\xEF\xBF\xBD");
            i++;
        } else if (esc_ctl && n == 1 && (p[i] < 0x20 || p[i] == 0x7F)) {
            if (p[i] == '\n')
                sb_add(b, "\\n");
            else if (p[i] == '\t')
                sb_add(b, "\\t");
            else
                sb_printf(b, "\\x%02x", p[i]);
            i++;
        } else {
            sb_addn(b, (const char *)p + i, n);
            i += n;
        }
    }
}

/* A JSON string of arbitrary bytes (new reference; NULL on OOM). */
static json_t *text_json(const void *data, size_t len)
{
    sbuf_t b = {0};
    sb_add_text(&b, data, len, 0);
    if (b.oom)
        return NULL;
    json_t *s = json_stringn(b.s ? b.s : "", b.len);
    free(b.s);
    return s;
}

/* Parsed JSON value, or the raw text as a string, or null (tombstone). */
static json_t *value_json(const tail_msg_t *m)
{
    if (!m->value)
        return json_null();
    json_t *v = json_loadb(m->value, m->value_len, JSON_DECODE_ANY, NULL);
    return v ? v : text_json(m->value, m->value_len);
}

static json_t *headers_json(const tail_msg_t *m)
{
    json_t *h = json_object();
    for (size_t i = 0; h && i < m->header_cnt; i++) {
        const tail_header_t *hd = &m->headers[i];
        json_t *v = hd->value ? text_json(hd->value, hd->len) : json_null();
        json_t *name = text_json(hd->name, strlen(hd->name));
        if (!v || !name || json_object_set_new(h, json_string_value(name), v) != 0) {
            json_decref(name);
            json_decref(h);
            return NULL;
        }
        json_decref(name);
    }
    return h;
}

char *tail_fmt_json(const tail_msg_t *m)
{
    json_t *key = m->key ? text_json(m->key, m->key_len) : json_null();
    json_t *ts = m->timestamp_ms >= 0 ? json_integer(m->timestamp_ms) : json_null();
    json_t *o = json_pack("{s:s, s:i, s:I, s:o, s:o, s:o, s:o}",
                          "topic", m->topic, "partition", (int)m->partition,
                          "offset", (json_int_t)m->offset, "timestamp_ms", ts,
                          "key", key, "headers", headers_json(m), "value", value_json(m));
    /* json_pack's "o" steals even on failure, so nothing leaks here. */
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(o);
    return s;
}

/* ---- line format ---- */

static const tail_header_t *find_header(const tail_msg_t *m, const char *name)
{
    const tail_header_t *found = NULL;
    for (size_t i = 0; i < m->header_cnt; i++)
        if (strcmp(m->headers[i].name, name) == 0 && m->headers[i].value)
            found = &m->headers[i];
    return found;
}

/* Header value with an optional prefix stripped, as a new NUL-terminated string. */
static char *header_str(const tail_msg_t *m, const char *name, const char *prefix)
{
    const tail_header_t *h = find_header(m, name);
    size_t pl = prefix ? strlen(prefix) : 0;
    if (!h || h->len <= pl || (pl && memcmp(h->value, prefix, pl) != 0))
        return NULL;
    sbuf_t b = {0};
    sb_add_text(&b, (const char *)h->value + pl, h->len - pl, 1);
    return sb_finish(&b);
}

/* Shortest %g form that reads back as the same double. */
static void add_real(sbuf_t *b, double d)
{
    char tmp[64];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    sb_add(b, tmp);
}

/* A JSON value for humans: strings bare, "-" for absent (NULL). */
static void add_scalar(sbuf_t *b, const json_t *v)
{
    if (!v) {
        sb_add(b, "-");
    } else if (json_is_string(v)) {
        sb_add_text(b, json_string_value(v), json_string_length(v), 1);
    } else if (json_is_integer(v)) {
        sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        add_real(b, json_real_value(v));
    } else if (json_is_true(v)) {
        sb_add(b, "true");
    } else if (json_is_false(v)) {
        sb_add(b, "false");
    } else if (json_is_null(v)) {
        sb_add(b, "null");
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        sb_add(b, s ? s : "?");
        free(s);
    }
}

/* "progress_percentage 40 -> 100, is_completed false -> true" */
static void add_summary(sbuf_t *b, const json_t *ev)
{
    const json_t *changed = json_object_get(ev, "changed");
    const json_t *before = json_object_get(ev, "before");
    const json_t *after = json_object_get(ev, "after");
    size_t i, n = 0;
    const json_t *f;
    json_array_foreach(changed, i, f) {
        if (!json_is_string(f))
            continue;
        const char *name = json_string_value(f);
        sb_add(b, n++ ? ", " : "");
        sb_add_text(b, name, strlen(name), 1);
        sb_add(b, " ");
        add_scalar(b, json_is_object(before) ? json_object_get(before, name) : NULL);
        sb_add(b, " -> ");
        add_scalar(b, json_is_object(after) ? json_object_get(after, name) : NULL);
    }
    if (n == 0)
        sb_add(b, json_is_null(after) ? "removed" : "no field changes");
}

static const char *student_of(const json_t *ev)
{
    const char *sides[] = {"after", "before"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *sid = json_object_get(json_object_get(ev, sides[i]), "student_id");
        if (json_is_string(sid))
            return json_string_value(sid);
    }
    return NULL;
}

/* Padded column; longer values are never cut. */
static void add_col(sbuf_t *b, const char *s, int width)
{
    sb_printf(b, "%-*s ", width, s && *s ? s : "-");
}

static void line_event(sbuf_t *b, const tail_msg_t *m, const char *type)
{
    json_t *ev = m->value ? json_loadb(m->value, m->value_len, 0, NULL) : NULL;
    char *src = header_str(m, "ce_source", "/connections/");
    char *act = header_str(m, "ce_subject", "activities/");
    const json_t *conn = json_object_get(ev, "connection_id");
    const json_t *aid = json_object_get(ev, "activity_id");
    add_col(b, type, 24);
    add_col(b, json_is_string(conn) ? json_string_value(conn) : src, 16);
    add_col(b, act ? act : json_is_string(aid) ? json_string_value(aid) : NULL, 16);
    if (ev) {
        add_summary(b, ev);
        const char *student = student_of(ev);
        if (student) {
            sb_add(b, "  student=");
            sb_add_text(b, student, strlen(student), 1);
        }
    } else if (m->value) {
        sb_add_text(b, m->value, m->value_len, 1);
    } else {
        sb_add(b, "(tombstone)");
    }
    free(src);
    free(act);
    json_decref(ev);
}

/* ", <label> <number><unit>" when obj has the number field name. */
static void add_number(sbuf_t *b, const json_t *obj, const char *name, const char *label, double scale,
                       const char *unit)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_number(v))
        return;
    sb_printf(b, ", %s ", label);
    add_real(b, json_number_value(v) * scale);
    sb_add(b, unit);
}

static json_int_t int_of(const json_t *obj, const char *name)
{
    return json_integer_value(json_object_get(obj, name));
}

/*
 * "enrollment conn-1/stu-2/course-3 3/4 completed, mean 62.5%, min 10%, 95 min"
 * "course     conn-1/course-3 5/12 learners completed (41.67%), mean 55.2%, 3 idle > 14 d"
 * A tombstone: "<kind> <key> removed".
 */
static void line_rollup(sbuf_t *b, const tail_msg_t *m, const char *kind)
{
    json_t *v = m->value ? json_loadb(m->value, m->value_len, 0, NULL) : NULL;
    add_col(b, kind, 10);
    if (m->key)
        sb_add_text(b, m->key, m->key_len, 1);
    sb_add(b, " ");
    if (!m->value) {
        sb_add(b, "removed");
    } else if (!json_is_object(v)) {
        sb_add_text(b, m->value, m->value_len, 1);
    } else if (strcmp(kind, "enrollment") == 0) {
        sb_printf(b, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " completed", int_of(v, "completed"),
                  int_of(v, "activities"));
        add_number(b, v, "progress_mean", "mean", 1, "%");
        add_number(b, v, "progress_min", "min", 1, "%");
        add_number(b, v, "duration_minutes", "time", 1, " min");
    } else {
        sb_printf(b, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " learners completed",
                  int_of(v, "learners_completed"), int_of(v, "learners"));
        add_number(b, v, "completion_rate", "rate", 100, "%");
        add_number(b, v, "progress_mean", "mean", 1, "%");
        sb_printf(b, ", %" JSON_INTEGER_FORMAT " idle > %" JSON_INTEGER_FORMAT " d", int_of(v, "learners_idle"),
                  int_of(v, "idle_days"));
    }
    json_decref(v);
}

char *tail_fmt_line(const tail_msg_t *m)
{
    sbuf_t b = {0};
    char *type = header_str(m, "ce_type", NULL);
    if (type && strncmp(type, "lmsync.progress.", 16) == 0) {
        line_rollup(&b, m, type + 16);
        free(type);
        return sb_finish(&b);
    }
    if (type) {
        line_event(&b, m, type);
        free(type);
        return sb_finish(&b);
    }
    sb_add_text(&b, m->topic, strlen(m->topic), 1);
    sb_add(&b, " ");
    if (m->key)
        sb_add_text(&b, m->key, m->key_len, 1);
    else
        sb_add(&b, "-");
    sb_add(&b, " ");
    if (m->value)
        sb_add_text(&b, m->value, m->value_len, 1);
    else
        sb_add(&b, "(tombstone)");
    return sb_finish(&b);
}
