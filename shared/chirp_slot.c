/* chirp_slot.c — Redis Cluster hash slots, see chirp_slot.h. */
#include "chirp_slot.h"

#include <stdint.h>
#include <string.h>

/* CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection), the
   checksum Redis Cluster hashes keys with; a byte at a time, without a
   table (a key is a few dozen bytes). */
static uint16_t crc16(const char *s, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint16_t)((unsigned char)s[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

unsigned chirp_slot_of(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open) {
    size_t from = (size_t)(open - key) + 1;
    const char *close = memchr(key + from, '}', len - from);
    if (close && close > key + from) {
      key += from;
      len = (size_t)(close - key);
    }
  }
  return crc16(key, len) & (CHIRP_SLOT_COUNT - 1);
}
