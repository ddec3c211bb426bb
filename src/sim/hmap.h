/* SPDX-License-Identifier: MIT */
/*
 * hmap.h - a small open-addressing hash map from NUL-terminated string keys to pointers, used by
 * the simulator for ref / uuid / address look-ups in O(1).  Keys are borrowed: the caller keeps
 * each key alive (usually inside the value) until it is removed.  Not thread-safe (the sim's
 * lock protects it).
 */
#ifndef PP_SIM_HMAP_H
#define PP_SIM_HMAP_H

#include <stddef.h>

struct hmap_slot {
    const char *key; /* NULL = empty; HMAP_TOMB = deleted */
    void *val;
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap;  /* power of two or 0 */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
};

/* Initialise an empty map (no allocation). */
void sim_hmap_init(struct hmap *m);
/* Release the table (not the keys or values). */
void sim_hmap_cleanup(struct hmap *m);
/* Insert or replace key -> val.  key is borrowed and must stay valid while present. */
void sim_hmap_put(struct hmap *m, const char *key, void *val);
/* The value of key or NULL. */
void *sim_hmap_get(const struct hmap *m, const char *key);
/* Remove key; returns its value or NULL when absent. */
void *sim_hmap_del(struct hmap *m, const char *key);

#endif
