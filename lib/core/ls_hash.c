/*
 * ls_hash.c - FNV-1a 64 with a splitmix64 finalizer.
 *
 * FNV-1a alone has weak low bits for short keys; the finalizer fixes the
 * distribution for "hash mod interval" and for 128-bit ids made of two
 * differently seeded hashes.
 */
#include "ls_hash.h"

uint64_t ls_hash64_update(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t ls_hash64_final(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

uint64_t ls_hash64(const void *data, size_t len, uint64_t seed)
{
    return ls_hash64_final(ls_hash64_update(seed, data, len));
}
