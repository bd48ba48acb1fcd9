/*
 * uuid.h — random ids: topic ids (UUID v4) and the cluster id, written the
 * way Kafka writes them (base64url of the 16 bytes, no padding, 22 chars).
 */
#ifndef RUNNEL_META_UUID_H
#define RUNNEL_META_UUID_H
#include <stdint.h>

#define UUID_STR_LEN 22  /* base64url of 16 bytes, without padding */

/* Fills id with a random version-4 UUID from getrandom(). Never all-zero
 * (the version bits are set) and never one whose text starts with '-'
 * (Kafka avoids those so they cannot be mistaken for a command-line flag).
 * Returns 0, or -1 when the kernel gave no randomness (errno set). Any thread. */
int uuid_random(uint8_t id[16]);
/* Writes the 22-char base64url text of id and a NUL into out. Any thread. */
void uuid_base64(const uint8_t id[16], char out[UUID_STR_LEN + 1]);
#endif
