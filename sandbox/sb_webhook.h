/*
 * sb_webhook.h - webhook subscriptions and their deliveries, like Unified's:
 * POST/GET/DELETE /unified/webhook, then POSTs of changed lms_activity
 * records to each subscription's hook_url, signed
 * sig = HMAC-SHA1(secret, <data as sent> + nonce). NATIVE deliveries go out
 * at once (integrations whose profile has native webhooks, unless
 * webhook_type "virtual" is asked), VIRTUAL ones at the
 * subscription's interval; a delivery answered non-2xx is retried with
 * backoff. Fault controls drop, duplicate or reorder deliveries.
 * One thread sends; one mutex guards the table.
 */
#ifndef SB_WEBHOOK_H
#define SB_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include "sb_data.h"

typedef struct sb_webhooks sb_webhooks_t;

/** Start the sender thread over world (borrowed). secret is copied; hex = 1 writes the digest in hex, else base64. */
sb_webhooks_t *sb_webhooks_new(sb_world_t *world, const char *secret, int hex);
/** Stop the thread and free. NULL accepted. */
void sb_webhooks_destroy(sb_webhooks_t *s);

/**
 * POST /unified/webhook: body needs connection_id (a known connection),
 * object_type lms_activity, hook_url (http:// or https://), event (created:
 * new records; updated: changed ones); optional webhook_type (native |
 * virtual; 400 when the integration has no such kind), interval (minutes,
 * virtual) and the sandbox's interval_ms (overrides it).
 * @return HTTP status (200 with *out = the Webhook, or 400/404 with err).
 */
int sb_webhooks_create(sb_webhooks_t *s, const json_t *body, json_t **out, char *err, size_t errsz);
/** GET /unified/webhook[?connection_id=]: up to limit from offset, oldest first (new reference). */
json_t *sb_webhooks_list(sb_webhooks_t *s, const char *connection_id, size_t limit, size_t offset);
/** GET /unified/webhook/{id}: 200 with *out, or 404. */
int sb_webhooks_get(sb_webhooks_t *s, const char *id, json_t **out);
/** DELETE /unified/webhook/{id}: 200 with *out, or 404. */
int sb_webhooks_delete(sb_webhooks_t *s, const char *id, json_t **out);
/**
 * POST /_sandbox/webhook_faults {"drop":N,"duplicate":N,"reorder":N}: the
 * next N deliveries are dropped (never sent), sent twice (the second with
 * its own nonce), or held and sent after the delivery that follows them.
 * DELETE clears. @return HTTP status; *out the counts left.
 */
int sb_webhooks_faults(sb_webhooks_t *s, const char *method, const json_t *body, json_t **out, char *err,
                       size_t errsz);
/** Counters: created, sent, delivered, retried, dropped, given_up (new reference). */
json_t *sb_webhooks_stats(sb_webhooks_t *s);

#endif
