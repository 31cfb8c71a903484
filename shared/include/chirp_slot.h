/*
 * chirp_slot.h — the Redis Cluster hash slot of a key (the cluster's own
 * rule: CRC16/XMODEM of the key's hash tag, or of the whole key when it
 * has none, modulo 16 384).  Keys of one slot may share a script call;
 * callers group keys by slot to send fewer calls without ever crossing
 * one (a script declaring keys of two slots answers CROSSSLOT).
 */
#ifndef CHIRP_SLOT_H
#define CHIRP_SLOT_H

#include <stddef.h>

#define CHIRP_SLOT_COUNT 16384

/* The slot of key[0..len): the bytes between the first '{' and the first
   '}' after it when there is at least one, else the whole key. */
unsigned chirp_slot_of(const char *key, size_t len);

#endif
