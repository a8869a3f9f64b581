/*
 * ls_hash.h - small, stable, non-cryptographic hashing.
 *
 * Used for deterministic event ids and for spreading connections over their
 * poll interval. The values are part of the on-wire contract (event ids,
 * schedule offsets), so the algorithm must never change silently.
 */
#ifndef LS_HASH_H
#define LS_HASH_H

#include <stddef.h>
#include <stdint.h>

/** 64-bit FNV-1a over data, continued from h (start with LS_HASH_SEED). */
uint64_t ls_hash64_update(uint64_t h, const void *data, size_t len);

/** Final avalanche (splitmix64 finalizer) of a running FNV value. */
uint64_t ls_hash64_final(uint64_t h);

/** One-shot: ls_hash64_final(ls_hash64_update(seed, data, len)). */
uint64_t ls_hash64(const void *data, size_t len, uint64_t seed);

#define LS_HASH_SEED 0xcbf29ce484222325ULL

#endif
