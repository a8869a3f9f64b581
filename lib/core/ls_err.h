/*
 * ls_err.h - error values shared by every lmsync module.
 *
 * Functions return 0 on success or a negative LS_E* value; results travel
 * through out-parameters (the LMDB / nginx habit). Library-specific errors
 * (MDB_*, CURLcode, rd_kafka_resp_err_t) are translated into these once, in
 * the wrapper module that owns the library.
 */
#ifndef LS_ERR_H
#define LS_ERR_H

#define LS_OK         0
#define LS_EINVAL    -1  /* malformed input: bad JSON, wrong type, bad config */
#define LS_ENOMEM    -2  /* allocation failed */
#define LS_EIO       -3  /* local I/O or storage failure */
#define LS_ENOTFOUND -4  /* no such key / record / resource */
#define LS_EFULL     -5  /* a fixed buffer or the LMDB map is full */
#define LS_ETRANSIENT -6 /* retryable upstream or broker failure (5xx, 429, timeout) */
#define LS_EPERM     -7  /* authentication / authorization refused (401, 403) */
#define LS_ESTOP     -8  /* shutdown requested while waiting */
#define LS_ERANGE    -9  /* value out of its allowed range */

/** Short static name of an LS_E* value ("EINVAL"); never NULL. */
const char *ls_strerror(int err);

/**
 * Make a reason one printable line in place: every byte below 0x20 and 0x7f
 * becomes '?'. For texts that quote input (a JSON parser's "near '...'").
 */
void ls_err_printable(char *s);

#endif
