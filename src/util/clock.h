/*
 * clock.h — time sources. Wall-clock ms for record timestamps and file
 * times; monotonic ms for deadlines and timeouts (never goes backwards).
 */
#ifndef RUNNEL_UTIL_CLOCK_H
#define RUNNEL_UTIL_CLOCK_H
#include <stdint.h>

int64_t clock_wall_ms(void);  /* ms since the Unix epoch */
int64_t clock_mono_ms(void);  /* CLOCK_MONOTONIC, ms */
int64_t clock_mono_us(void);  /* CLOCK_MONOTONIC, us */
#endif
