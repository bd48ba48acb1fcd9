/*
 * jhash.h — Kafka's partition for a coordinator key (a group id in
 * __consumer_offsets, a transactional id in __transaction_state):
 * abs(java.lang.String.hashCode(key)) mod n, where hashCode runs over the
 * UTF-16 code units of the key (Utils.abs maps INT32_MIN to 0). Invalid
 * UTF-8 bytes count as U+FFFD, as Java's decoder makes them. n > 0.
 */
#ifndef RUNNEL_UTIL_JHASH_H
#define RUNNEL_UTIL_JHASH_H
#include <stdint.h>

int32_t jhash_partition_for(const char *key, int32_t n);
#endif
