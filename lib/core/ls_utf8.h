/*
 * ls_utf8.h - the one UTF-8 validator.
 *
 * The rules are jansson 2.14's (src/utf.c, utf8_check_first and
 * utf8_check_full), which are RFC 3629's: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no stray continuation bytes.
 * The page parser must accept exactly the bytes json_loadb() accepts, and
 * the JSON writers must refuse exactly the strings json_string() refuses, so
 * every reader and writer of activity strings uses this module and nothing
 * else decides what valid UTF-8 is.
 */
#ifndef LS_UTF8_H
#define LS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/**
 * Length (2..4) of the valid multi-byte sequence that starts at s, whose
 * first byte is >= 0x80, with n >= 1 bytes readable; 0 when it is not valid
 * (a continuation or C0/C1 lead byte, a lead byte above F4, a truncated
 * sequence, an overlong form, a surrogate or a code point above U+10FFFF).
 */
size_t ls_utf8_seq(const unsigned char *s, size_t n);

/**
 * True when the n bytes at s are valid UTF-8 by the rules above. A NUL byte
 * is U+0000 and valid; callers that forbid NUL check for it themselves.
 */
bool ls_utf8_valid(const char *s, size_t n);

#endif
