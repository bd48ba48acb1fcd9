// fuzz-deps: src/util
/*
 * fuzz_config.c — libFuzzer target for the configuration parser
 * (src/util/config.c): the properties-file reader (comments, separators,
 * trimming, backslash continuations) and the per-key value parsers
 * (integers with bounds and scales, booleans, enums and lists, listener
 * lists, synonym precedence), which read server.properties and every
 * --override at start-up, and the topic-key validation that CreateTopics
 * and AlterConfigs run on client-supplied values.
 *
 * Each input is used two ways:
 *  1. as a whole properties file: written to a memfd and loaded with
 *     config_load_file over the defaults, then config_fini;
 *  2. split at its first '=' into a key and a value (no '=': the whole
 *     input is the key and the value is NULL; bytes after a NUL are
 *     ignored, as in a C string): config_set on the configuration loaded
 *     in 1, plus config_value_check (dynamic broker configs),
 *     topic_config_validate and topic_config_default.
 * After each step it checks what the parser stored: every primary key's
 * current value, formatted by config_value_text, must be accepted again by
 * config_set on a fresh configuration and read back as the same text (a
 * value is stored only after validation, and synonyms store values the
 * primary key accepts). A broken invariant aborts. Nothing may crash, leak
 * or trip a sanitizer. Diagnostics are silenced; RUNNEL_FUZZ_LOG=warn
 * shows the unknown-key warnings when reproducing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/config.h"
#include "util/log.h"
#include "fuzz_common.h"

static int memfd = -1;
static char path[64];  /* /proc/self/fd/<memfd> */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	memfd = memfd_create("fuzz_config.properties", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	return 0;
}

static void check_text(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
}

/* The invariant above, for every primary key of c. */
static void check_config(const struct config *c)
{
	struct config d;
	char text[2048], again[2048], err[512];
	config_defaults(&d);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		config_value_text(c, k, text, sizeof text);
		check_text(text, sizeof text);
		if (k->overridden_by != NULL || config_value_is_null(c, k))
			continue;
		if (config_set(&d, k->name, text, err, sizeof err) != 0) {
			fprintf(stderr, "fuzz_config: stored %s='%s' is rejected: %s\n", k->name, text, err);
			abort();
		}
		config_value_text(&d, k, again, sizeof again);
		if (strcmp(text, again) != 0) {
			fprintf(stderr, "fuzz_config: %s='%s' reads back as '%s'\n", k->name, text, again);
			abort();
		}
		if (config_source_of(c, k) != CFG_SRC_STATIC_BROKER && config_source_of(c, k) != CFG_SRC_DEFAULT)
			abort();
	}
	config_fini(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config c;

	/* 1. properties file */
	if (ftruncate(memfd, 0) != 0 || (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	config_defaults(&c);
	err[0] = '\0';
	if (config_load_file(&c, path, err, sizeof err) != 0)
		check_text(err, sizeof err);
	check_config(&c);

	/* 2. one key=value */
	char *buf = malloc(size + 1);
	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	const uint8_t *eq = memchr(data, '=', size);
	char *key = buf, *val = NULL;
	if (eq != NULL) {
		buf[eq - data] = '\0';
		val = buf + (eq - data) + 1;
	}
	int rc = config_set(&c, key, val, err, sizeof err);
	if (rc < -1 || rc > 1)
		abort();
	if (rc != 0)
		check_text(err, sizeof err);
	if (rc == 1 && config_key_find(key) != NULL)
		abort();
	check_config(&c);

	char out[1024];
	const struct config_key *bk = config_key_find(key);
	if (bk != NULL && val != NULL && config_value_check(bk, val, err, sizeof err) != 0)
		check_text(err, sizeof err); /* a dynamic broker config's check */
	if (topic_config_validate(key, val, err, sizeof err) != 0)
		check_text(err, sizeof err);
	else if (topic_config_key_find(key) == NULL)
		abort(); /* an unknown topic key must be rejected */
	topic_config_default(&c, key, out, sizeof out);
	check_text(out, sizeof out);
	if (topic_config_key_find(key) == NULL && out[0] != '\0')
		abort();

	free(buf);
	config_fini(&c);
	return 0;
}
