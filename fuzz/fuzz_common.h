/*
 * fuzz_common.h — set-up shared by the fuzz targets that need a scratch
 * directory: quiet logging (RUNNEL_FUZZ_LOG=debug|info|warn|error to change
 * it) and a private temp dir, preferring memory-backed /dev/shm.
 */
#ifndef RUNNEL_FUZZ_COMMON_H
#define RUNNEL_FUZZ_COMMON_H
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

static inline void fuzz_quiet_logs(void)
{
	const char *lvl = getenv("RUNNEL_FUZZ_LOG");
	int l = lvl ? log_parse_level(lvl) : -1;
	log_set_level(l >= 0 ? (enum log_level)l : LOGL_ERROR);
}

/* Creates <base>/runnel-fuzz-<name>-XXXXXX under the first usable base of
 * $FUZZ_TMPDIR, /dev/shm, $TMPDIR, /tmp into root. Aborts when none works. */
static inline void fuzz_make_root(char *root, size_t len, const char *name)
{
	const char *bases[] = { getenv("FUZZ_TMPDIR"), "/dev/shm", getenv("TMPDIR"), "/tmp" };
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		if (bases[i] == NULL || bases[i][0] == '\0')
			continue;
		snprintf(root, len, "%s/runnel-fuzz-%s-XXXXXX", bases[i], name);
		if (mkdtemp(root) != NULL)
			return;
	}
	perror("fuzz: mkdtemp");
	abort();
}
#endif
