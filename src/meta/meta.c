/*
 * meta.c — cluster metadata: open/replay, validation and the mutations
 * (meta.h). The record log is metalog.c; the image and its topic versions
 * are image.c.
 *
 * Every mutation follows the same steps, with meta->mu held:
 *   1. validate against the image (a Kafka code and message on failure);
 *   2. build the new topic version and open any new partition logs
 *      (a leftover directory of the same name is renamed aside first);
 *   3. append the record durably (metalog_append: write + fdatasync);
 *   4. publish the version in the image (image_insert/replace/remove).
 * A failure in 2 or 3 deletes what 2 opened and leaves the image as it was,
 * so the image is always exactly the replay of the durable log. A crash
 * between 2 and 3 leaves empty partition directories of no topic: warned
 * about at start-up, renamed aside when the name is created again.
 *
 * Deleting a topic publishes its removal at once; its partition logs are
 * deleted when the last reference to it goes (image.c, invariant 3), so a
 * request still using them finishes first. Creating the same name again
 * waits (bounded) for that.
 *
 * Configs. Every version carries its parsed effective settings (t->cfg,
 * filled by cfg_fill from settings.c before it is published); a new
 * version hands them to its open plogs at once (plogs_update). An alter
 * (meta_topic_configs_alter, meta_broker_configs_alter) computes the
 * resource's whole new set in a cfgset (cfgset.c), and writes it as ONE
 * record (TOPIC_CONFIGS / BROKER_CONFIGS), so a multi-key change is
 * durable all at once or, torn, not at all. A broker change republishes
 * every topic (republish_all), at run time and at replay alike.
 *
 * At open: replay builds the image without plogs, the cluster id is created
 * on the first start (CLUSTER record, then meta.properties), and then every
 * partition log is opened with its topic's settings over the broker's.
 *
 * Locks: mu serializes mutations and the metalog; image.c's rwlock guards
 * the maps. Order: mu, then the image's locks. Producer ids (pids.c) have
 * their own lock, held while a new block is written: pids.mu, then mu.
 */
#include "meta/meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/plog.h"
#include "meta/cfgset.h"
#include "meta/image.h"
#include "meta/metalog.h"
#include "meta/pids.h"
#include "meta/settings.h"
#include "meta/uuid.h"
#include "util/buf.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/par.h"
#include "util/fileio.h"

#define META_DIR "__cluster_metadata-0"
#define NAME_MAX_LEN 249
#define CLUSTER_ID_MAX 64
#define PENDING_WAIT_MS 5000

struct meta {
	const struct config *cfg;   /* borrowed for the meta's lifetime */
	struct logdir *ld;          /* borrowed */
	struct metalog *ml;         /* owned; used under mu */
	struct image im;            /* the image: own locks */
	struct settings st;         /* dynamic broker configs, effective values: own lock */
	pthread_mutex_t mu;         /* serializes mutations */
	struct pids pids;           /* producer-id blocks (pids.h): own lock, taken before mu */
	bool mu_init, im_init, st_init, pids_init;
	char cluster_id[CLUSTER_ID_MAX + 1]; /* set at open, then immutable */
	uint64_t replayed;          /* records applied at open, for the log line */
};

/* ======================================================= topic names */

/* Copies len bytes of s into out with non-printable bytes as '?', for messages. */
static const char *printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = len < outlen - 1 ? len : outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[n] = '\0';
	return out;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int meta_topic_name_valid(const char *name, size_t len, char *err, size_t errlen)
{
	char shown[NAME_MAX_LEN + 2];
	if (name == NULL || len == 0) {
		snprintf(err, errlen, "Topic name is illegal, it can't be empty");
		return -1;
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		snprintf(err, errlen, "Topic name cannot be \".\" or \"..\"");
		return -1;
	}
	if (len > NAME_MAX_LEN) {
		snprintf(err, errlen, "Topic name is illegal, it can't be longer than %d characters, "
			 "topic name: %s...", NAME_MAX_LEN, printable(name, 64, shown, sizeof shown));
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(name[i])) {
			snprintf(err, errlen, "Topic name \"%s\" is illegal, it contains a character other "
				 "than ASCII alphanumerics, '.', '_' and '-'",
				 printable(name, len, shown, sizeof shown));
			return -1;
		}
	}
	return 0;
}

/* ======================================================= topic configs */

void meta_topic_config_get(struct meta *m, const struct topic *t, const char *key,
			   char *out, size_t outlen, bool *is_default)
{
	/* t is an immutable version (image.c): its overrides need no lock */
	int src = settings_topic_value(&m->st, t ? t->configs : NULL, t ? t->nconfigs : 0, key,
				       out, outlen);
	*is_default = src != CFG_SRC_DYNAMIC_TOPIC;
}

size_t meta_config_synonyms(struct meta *m, const struct topic *t, const char *key,
			    struct cfg_syn *out, size_t max)
{
	if (t != NULL) {
		const struct topic_config_key *tk = topic_config_key_find(key);
		return tk ? settings_topic_synonyms(&m->st, t->configs, t->nconfigs, tk, out, max) : 0;
	}
	const struct config_key *k = config_key_find(key);
	return k ? settings_broker_synonyms(&m->st, k, out, max) : 0;
}

/* Fills t->cfg, the effective settings of a version being built (before
 * it is published: versions never change afterwards). */
static void cfg_fill(struct meta *m, struct topic *t)
{
	settings_topic_cfg(&m->st, t->configs, t->nconfigs, &t->cfg);
	/* a broker-only key (no topic override, static: read_only) */
	t->cfg.log.producer_id_expiration_ms = m->cfg->producer_id_expiration_ms;
}

/* Hands the settings of the newest version nt to its open partition logs,
 * so a change takes effect at once (mu held: versions are published and
 * their settings delivered in the same order). */
static void plogs_update(struct topic *nt)
{
	for (int32_t i = 0; i < nt->npartitions; i++)
		if (nt->parts[i]->log != NULL)
			plog_set_config(nt->parts[i]->log, &nt->cfg.log);
}

/* Checks CreateTopics configs (value NULL is refused, as Kafka does).
 * Returns KAFKA_NONE or KAFKA_INVALID_CONFIG with a message. */
static int configs_check(const struct kv *configs, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *key = configs[i].key, *val = configs[i].value;
		if (key == NULL || topic_config_key_find(key) == NULL) {
			snprintf(err, errlen, "Unknown topic config name: %s", key ? key : "null");
			return KAFKA_INVALID_CONFIG;
		}
		if (val == NULL) {
			snprintf(err, errlen, "Null value not supported for topic configs: %s", key);
			return KAFKA_INVALID_CONFIG;
		}
		if (strlen(val) > MREC_STR_MAX) {
			snprintf(err, errlen, "Invalid value for topic config %s: longer than %u bytes",
				 key, MREC_STR_MAX);
			return KAFKA_INVALID_CONFIG;
		}
		if (topic_config_validate(key, val, err, errlen) != 0) /* Kafka's words */
			return KAFKA_INVALID_CONFIG;
	}
	return KAFKA_NONE;
}

/* ======================================================= partition logs */

/* Renames aside a directory <name>-<index> that no live topic owns (from a
 * deleted topic whose files were never renamed, or a create that crashed
 * before its record), so a new partition starts empty. The "-delete"
 * suffix is the one logdir_plog_delete gives. Returns 0 or -1. */
static int stale_dir_aside(struct meta *m, const char *name, int32_t index)
{
	char path[PATH_MAX], aside[PATH_MAX + 48], idtext[UUID_STR_LEN + 1];
	uint8_t id[16];
	struct stat st;
	const char *dir = logdir_path(m->ld);
	if (snprintf(path, sizeof path, "%s/%s-%" PRId32, dir, name, index) >= (int)sizeof path)
		return -1;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (uuid_random(id) != 0)
		return -1;
	uuid_base64(id, idtext);
	snprintf(aside, sizeof aside, "%s.%s-delete", path, idtext);
	if (rename(path, aside) != 0)
		return -1;
	log_warn("meta", "%s: a partition directory of no topic (an earlier topic of this name); "
		 "renamed to %s", path, aside);
	fio_fsync_dir(dir); /* best effort: the rename is only housekeeping */
	return 0;
}

/* Opens partition i of t (renaming a stale dir aside first when fresh).
 * Returns 0, or the errno of the failure (-1 when there was none). */
static int part_open_one(struct meta *m, struct topic *t, int32_t i, bool fresh)
{
	errno = 0;
	if ((fresh && stale_dir_aside(m, t->name, i) != 0) ||
	    logdir_plog_open(m->ld, t->name, i, &t->cfg.log, &t->parts[i]->log) != 0 ||
	    t->parts[i]->log == NULL) {
		t->parts[i]->log = NULL;
		return errno ? errno : -1;
	}
	return 0;
}

/* Many partitions are opened by several threads at once (par_for): a new
 * partition costs two fsyncs (its dir's name in the log dir, its first
 * segment's names in its dir) and a recovered one a few file opens, and
 * waiting for them one at a time made creating 4,000 partitions take ~20 s
 * on the project's VM (bench/scale). logdir_plog_open is thread-safe and
 * each call writes only its t->parts[i]. */
enum { PARTS_THREADS = 8 };

struct parts_job {
	struct meta *m;
	struct topic *t;
	bool fresh;
	pthread_mutex_t mu;
	int32_t fail_index;         /* lowest failed index, -1 if none; mu */
	int fail_errno;             /* its part_open_one result; mu */
};

/* par_fn: opens partition i; a failure is noted and stops the loop. */
static bool parts_open_index(void *arg, int32_t i)
{
	struct parts_job *j = arg;
	int rc = part_open_one(j->m, j->t, i, j->fresh);
	if (rc == 0)
		return true;
	pthread_mutex_lock(&j->mu);
	if (j->fail_index < 0 || i < j->fail_index) {
		j->fail_index = i;
		j->fail_errno = rc;
	}
	pthread_mutex_unlock(&j->mu);
	return false;
}

/* Opens the logs of t's partitions [from, n). On failure deletes the ones
 * it opened and returns KAFKA_KAFKA_STORAGE_ERROR with a message. */
static int parts_open(struct meta *m, struct topic *t, int32_t from, bool fresh, char *err, size_t errlen)
{
	struct parts_job j = { .m = m, .t = t, .fresh = fresh, .fail_index = -1 };
	pthread_mutex_init(&j.mu, NULL);
	par_for(from, t->npartitions, PARTS_THREADS, parts_open_index, &j);
	pthread_mutex_destroy(&j.mu);
	if (j.fail_index < 0)
		return KAFKA_NONE;
	int saved = j.fail_errno > 0 ? j.fail_errno : 0;
	snprintf(err, errlen, "%s-%" PRId32 ": cannot open the partition log%s%s", t->name,
		 j.fail_index, saved ? ": " : "", saved ? strerror(saved) : "");
	log_error("meta", "%s", err);
	for (int32_t i = from; i < t->npartitions; i++) {
		if (t->parts[i]->log != NULL)
			logdir_plog_delete(m->ld, t->parts[i]->log);
		t->parts[i]->log = NULL;
	}
	return KAFKA_KAFKA_STORAGE_ERROR;
}

/* ======================================================= snapshots */

static int encode_topic(struct wbuf *w, const struct topic *t)
{
	struct mrec r = { .type = MREC_TOPIC, .name = t->name, .count = t->npartitions,
			  .configs = t->configs, .nconfigs = t->nconfigs };
	memcpy(r.id, t->id, 16);
	return metalog_encode(w, &r);
}

/* Appends one scope's dynamic broker configs, when there are any, as a
 * BROKER_CONFIGS record (before the topics: replay then fills their
 * settings with them at once). Returns 0 or -1 (out of memory). */
static int encode_broker(struct meta *m, struct wbuf *w, bool cluster_default, uint32_t *nrec)
{
	struct kv *v = NULL;
	size_t n = 0;
	if (settings_copy(&m->st, cluster_default, &v, &n) != 0)
		return -1;
	struct mrec r = { .type = MREC_BROKER_CONFIGS, .node_id = cluster_default ? -1 : m->cfg->node_id,
			  .configs = v, .nconfigs = n };
	int rc = n > 0 ? metalog_encode(w, &r) : 0;
	*nrec += n > 0 && rc == 0;
	meta_kv_free(v, n);
	return rc;
}

/* Appends the producer-id high-water mark as a PRODUCER_IDS record, when
 * any block was ever reserved (mu held: pids.reserved is stable). */
static int encode_pids(struct meta *m, struct wbuf *w, uint32_t *nrec)
{
	if (m->pids.reserved == 0)
		return 0;
	struct mrec r = { .type = MREC_PRODUCER_IDS, .node_id = m->cfg->node_id,
			  .next_pid = m->pids.reserved };
	int rc = metalog_encode(w, &r);
	*nrec += rc == 0;
	return rc;
}

/* Writes a snapshot once the log has grown past the configured size. A
 * failure is logged and retried after the next mutation. Call with mu. */
static void maybe_snapshot(struct meta *m)
{
	if (metalog_size(m->ml) <= m->cfg->metadata_log_max_snapshot_interval_bytes)
		return;
	struct wbuf w;
	struct mrec cr = { .type = MREC_CLUSTER, .cluster_id = m->cluster_id, .node_id = m->cfg->node_id };
	size_t n = 0;
	struct topic **v = image_list(&m->im, &n);
	uint32_t nrec = 1;
	int rc = 0;
	wbuf_init(&w);
	rc |= metalog_encode(&w, &cr);
	rc |= encode_broker(m, &w, false, &nrec) | encode_broker(m, &w, true, &nrec);
	for (size_t i = 0; i < n; i++)
		rc |= encode_topic(&w, v[i]);
	rc |= encode_pids(m, &w, &nrec);
	if (rc != 0)
		log_warn("meta", "metadata snapshot: encoding failed (out of memory)");
	else
		metalog_snapshot(m->ml, w.mem, w.mem_len, (uint32_t)(nrec + n));
	wbuf_fini(&w);
	meta_topics_free(v, n);
}

/* ======================================================= replay */

static bool id_zero(const uint8_t id[16])
{
	static const uint8_t zero[16];
	return memcmp(id, zero, 16) == 0;
}

static int replay_topic(struct meta *m, const struct mrec *r, char *err, size_t errlen)
{
	char why[256];
	size_t len = strlen(r->name);
	struct topic *dup = image_find_norm(&m->im, r->name, len);
	struct topic *dup_id = image_find_id(&m->im, r->id);
	bool bad = meta_topic_name_valid(r->name, len, why, sizeof why) != 0 || r->count < 1 ||
		   r->count > META_MAX_PARTITIONS || id_zero(r->id) || dup != NULL || dup_id != NULL;
	topic_unref(dup);
	topic_unref(dup_id);
	if (bad) {
		log_warn("meta", "metadata log: TOPIC record for '%s' (%" PRId32 " partitions) is invalid "
			 "or a duplicate; skipped", r->name, r->count);
		return 0;
	}
	struct topic *t = image_topic_new(&m->im, r->name, r->id, r->count, r->configs, r->nconfigs);
	if (t == NULL || image_reserve(&m->im) != 0) {
		if (t != NULL)
			image_topic_discard(t, 0);
		snprintf(err, errlen, "out of memory replaying the metadata log");
		return -1;
	}
	cfg_fill(m, t);
	image_insert(&m->im, t);
	return 0;
}

/* Publishes a new version of every topic so that each takes up changed
 * dynamic broker configs (mu held, or at open). A topic whose new version
 * cannot be allocated keeps its old settings until its next change. */
static void republish_all(struct meta *m)
{
	size_t n = 0;
	struct topic **v = image_list(&m->im, &n);
	for (size_t i = 0; i < n; i++) {
		struct topic *nt = image_topic_derive(v[i], v[i]->npartitions, NULL, NULL);
		if (nt == NULL) {
			log_error("meta", "%s: out of memory applying broker configs; the topic keeps its "
				  "old settings until its next change", v[i]->name);
			continue;
		}
		cfg_fill(m, nt);
		image_replace(&m->im, v[i], nt);
		plogs_update(nt);
	}
	meta_topics_free(v, n);
}

/* BROKER_CONFIGS: replaces this node's (or the cluster-wide) dynamic
 * broker configs; a record of another node's scope is skipped (its node
 * id changed, or clustering later: not ours to apply). */
static int replay_broker(struct meta *m, const struct mrec *r, char *err, size_t errlen)
{
	struct cfgset s;
	bool dflt = r->node_id == -1;
	if (!dflt && r->node_id != m->cfg->node_id) {
		log_warn("meta", "metadata log: dynamic broker configs of node %" PRId32 " (we are %" PRId32
			 "); skipped", r->node_id, m->cfg->node_id);
		return 0;
	}
	if (cfgset_init(&s, r->configs, r->nconfigs) != 0) {
		snprintf(err, errlen, "out of memory replaying the metadata log");
		return -1;
	}
	settings_replace(&m->st, dflt, s.v, s.n);
	republish_all(m);
	return 0;
}

/* PARTITIONS and TOPIC_CONFIG(S): a new version of an existing topic. */
static int replay_change(struct meta *m, const struct mrec *r, char *err, size_t errlen)
{
	struct topic *cur = image_find_id(&m->im, r->id);
	struct topic *nt = NULL;
	bool more = r->type == MREC_PARTITIONS;
	if (cur == NULL || (more && (r->count <= cur->npartitions || r->count > META_MAX_PARTITIONS))) {
		log_warn("meta", "metadata log: %s record for an unknown topic or with a bad count; skipped",
			 more ? "PARTITIONS" : "TOPIC_CONFIG(S)");
		topic_unref(cur);
		return 0;
	}
	if (r->type == MREC_TOPIC_CONFIGS)
		nt = image_topic_derive_set(cur, r->configs, r->nconfigs);
	else
		nt = more ? image_topic_derive(cur, r->count, NULL, NULL)
			  : image_topic_derive(cur, cur->npartitions, r->key, r->value);
	if (nt == NULL) {
		topic_unref(cur);
		snprintf(err, errlen, "out of memory replaying the metadata log");
		return -1;
	}
	cfg_fill(m, nt);
	image_replace(&m->im, cur, nt);
	topic_unref(cur);
	return 0;
}

static int replay_apply(void *arg, const struct mrec *r, char *err, size_t errlen)
{
	struct meta *m = arg;
	struct topic *t;
	m->replayed++;
	switch (r->type) {
	case MREC_CLUSTER:
		if (strlen(r->cluster_id) > CLUSTER_ID_MAX) {
			snprintf(err, errlen, "metadata log: cluster id longer than %d characters", CLUSTER_ID_MAX);
			return -1;
		}
		snprintf(m->cluster_id, sizeof m->cluster_id, "%s", r->cluster_id);
		return 0;
	case MREC_TOPIC:
		return replay_topic(m, r, err, errlen);
	case MREC_PARTITIONS:
	case MREC_TOPIC_CONFIG:
	case MREC_TOPIC_CONFIGS:
		return replay_change(m, r, err, errlen);
	case MREC_BROKER_CONFIGS:
		return replay_broker(m, r, err, errlen);
	case MREC_PRODUCER_IDS:
		if (pids_replay(&m->pids, r->next_pid) != 0) {
			snprintf(err, errlen, "metadata log: PRODUCER_IDS record with impossible next "
				 "producer id %" PRId64, r->next_pid);
			return -1;
		}
		return 0;
	case MREC_REMOVE_TOPIC:
		t = image_find_id(&m->im, r->id);
		if (t == NULL)
			log_warn("meta", "metadata log: REMOVE_TOPIC record for an unknown topic; skipped");
		else
			image_remove(&m->im, t);
		topic_unref(t);
		return 0;
	default:
		return 0;
	}
}

/* ======================================================= open and close */

/* Sets the cluster id on the first start (CLUSTER record), or checks the
 * configured one against the stored one. */
static int cluster_init(struct meta *m, char *err, size_t errlen)
{
	const char *want = m->cfg->cluster_id;
	uint8_t id[16];
	if (m->cluster_id[0] != '\0') {
		if (want != NULL && strcmp(want, m->cluster_id) != 0) {
			snprintf(err, errlen, "cluster.id %s in the configuration does not match %s stored in "
				 "the metadata log", want, m->cluster_id);
			return -1;
		}
		return 0;
	}
	if (want != NULL && (want[0] == '\0' || strlen(want) > CLUSTER_ID_MAX || strpbrk(want, " \t\r\n="))) {
		snprintf(err, errlen, "cluster.id: must be 1 to %d characters without spaces or '='", CLUSTER_ID_MAX);
		return -1;
	}
	if (want != NULL) {
		snprintf(m->cluster_id, sizeof m->cluster_id, "%s", want);
	} else if (uuid_random(id) == 0) {
		uuid_base64(id, m->cluster_id);
	} else {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	struct mrec r = { .type = MREC_CLUSTER, .cluster_id = m->cluster_id, .node_id = m->cfg->node_id };
	if (metalog_append(m->ml, &r) != KAFKA_NONE) {
		snprintf(err, errlen, "cannot write the cluster id to the metadata log");
		m->cluster_id[0] = '\0';
		return -1;
	}
	log_info("meta", "new cluster: id %s, node %" PRId32, m->cluster_id, m->cfg->node_id);
	return 0;
}

/* Writes Kafka's meta.properties in the log dir when it is absent or
 * stale (tmp, fsync, rename, fsync dir). Informational: the metadata log
 * is the authority, so a failure is only a warning. */
static void props_write(struct meta *m)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], want[256], have[256];
	const char *dir = logdir_path(m->ld);
	int n = snprintf(want, sizeof want, "#\n# Written by runnel: this node's identity, in Kafka's format.\n"
			 "# The metadata log in " META_DIR "/ is the authority.\n"
			 "version=1\nnode.id=%" PRId32 "\ncluster.id=%s\n", m->cfg->node_id, m->cluster_id);
	snprintf(path, sizeof path, "%s/meta.properties", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, have, sizeof have) : -1;
	if (fd >= 0)
		close(fd);
	if (got == n && memcmp(have, want, (size_t)n) == 0)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool ok = fd >= 0 && write(fd, want, (size_t)n) == n && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	ok = ok && rename(tmp, path) == 0;
	fd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	ok = ok && fd >= 0 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok) {
		log_warn("meta", "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
	}
}

/* Opens every partition log of every replayed topic. */
static int open_all(struct meta *m, char *err, size_t errlen, int64_t *nparts)
{
	size_t n = 0;
	struct topic **v = image_list(&m->im, &n);
	int rc = 0;
	*nparts = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (parts_open(m, v[i], 0, false, err, errlen) != KAFKA_NONE)
			rc = -1;
		*nparts += v[i]->npartitions;
	}
	meta_topics_free(v, n);
	return rc;
}

/* Is name "<topic>-<digits>"? Sets the topic length and partition index. */
static bool part_dir_parse(const char *name, size_t *tlen, int32_t *index)
{
	const char *dash = strrchr(name, '-');
	if (dash == NULL || dash == name || dash[1] == '\0' || strlen(dash + 1) > 9)
		return false;
	int32_t v = 0;
	for (const char *c = dash + 1; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (*c - '0');
	}
	*tlen = (size_t)(dash - name);
	*index = v;
	return true;
}

/* Warns about partition directories that belong to no topic; they are
 * left alone (maybe someone wants the data). */
static void orphans_warn(struct meta *m)
{
	const char *dir = logdir_path(m->ld);
	DIR *d = opendir(dir);
	char why[256];
	if (d == NULL)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t tlen;
		int32_t index;
		if (e->d_name[0] == '.' || strcmp(e->d_name, META_DIR) == 0 ||
		    !part_dir_parse(e->d_name, &tlen, &index) ||
		    meta_topic_name_valid(e->d_name, tlen, why, sizeof why) != 0)
			continue;
		struct topic *t = image_find(&m->im, e->d_name, tlen);
		if (t == NULL || index >= t->npartitions)
			log_warn("meta", "%s/%s: partition directory of no topic; left in place", dir, e->d_name);
		topic_unref(t);
	}
	closedir(d);
}

struct meta *meta_open(const struct config *cfg, struct logdir *ld, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int64_t nparts = 0;
	struct meta *m = calloc(1, sizeof *m);
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->ld = ld;
	m->mu_init = pthread_mutex_init(&m->mu, NULL) == 0;
	m->im_init = image_init(&m->im, ld) == 0;
	m->st_init = settings_init(&m->st, cfg) == 0;
	m->pids_init = pids_init(&m->pids) == 0;
	if (!m->mu_init || !m->im_init || !m->st_init || !m->pids_init) {
		snprintf(err, errlen, "cannot initialise locks");
		goto fail;
	}
	if (snprintf(dir, sizeof dir, "%s/" META_DIR, logdir_path(ld)) >= (int)sizeof dir) {
		snprintf(err, errlen, "%s: path too long", logdir_path(ld));
		goto fail;
	}
	if (metalog_open(dir, replay_apply, m, &m->ml, err, errlen) != 0 ||
	    cluster_init(m, err, errlen) != 0 || open_all(m, err, errlen, &nparts) != 0)
		goto fail;
	props_write(m);
	orphans_warn(m);
	size_t ntopics = 0;
	struct topic **all = image_list(&m->im, &ntopics);
	meta_topics_free(all, ntopics);
	log_info("meta", "cluster %s: %zu topics, %" PRId64 " partitions (%" PRIu64 " metadata records "
		 "replayed)", m->cluster_id, ntopics, nparts, m->replayed);
	return m;
fail:
	meta_close(m);
	return NULL;
}

void meta_close(struct meta *m)
{
	if (m == NULL)
		return;
	if (m->im_init)
		image_fini(&m->im);
	metalog_close(m->ml);
	if (m->st_init)
		settings_fini(&m->st);
	if (m->pids_init)
		pids_fini(&m->pids);
	if (m->mu_init)
		pthread_mutex_destroy(&m->mu);
	free(m);
}

const char *meta_cluster_id(const struct meta *m) { return m->cluster_id; }

/* ======================================================= lookups */

struct topic *meta_topic_find(struct meta *m, const char *name, size_t len)
{
	return image_find(&m->im, name, len);
}

struct topic *meta_topic_find_id(struct meta *m, const uint8_t id[16])
{
	return id_zero(id) ? NULL : image_find_id(&m->im, id);
}

struct topic **meta_topics_list(struct meta *m, size_t *n)
{
	return image_list(&m->im, n);
}

void meta_topics_free(struct topic **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		topic_unref(v[i]);
	free(v);
}

/* ======================================================= create */

/* Resolves -1 to the broker defaults and checks the counts. */
static int counts_check(const struct meta *m, int32_t *partitions, int32_t rf, char *err, size_t errlen)
{
	int32_t np = *partitions == -1 ? m->cfg->num_partitions : *partitions;
	int32_t r = rf == -1 ? m->cfg->default_replication_factor : rf;
	if (np < 1) {
		snprintf(err, errlen, "Number of partitions was set to an invalid non-positive value.");
		return KAFKA_INVALID_PARTITIONS;
	}
	if (np > META_MAX_PARTITIONS) {
		snprintf(err, errlen, "Number of partitions %" PRId32 " is larger than the maximum of %d.",
			 np, META_MAX_PARTITIONS);
		return KAFKA_INVALID_PARTITIONS;
	}
	if (r < 1) {
		snprintf(err, errlen, "Replication factor must be larger than 0, or -1 to use the default value.");
		return KAFKA_INVALID_REPLICATION_FACTOR;
	}
	if (r != 1) {
		snprintf(err, errlen, "replication factor %" PRId32 " is larger than the number of brokers (1)", r);
		return KAFKA_INVALID_REPLICATION_FACTOR;
	}
	*partitions = np;
	return KAFKA_NONE;
}

/* Name checks against the image: exists, collides, deletion pending. */
static int name_check(struct meta *m, const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	struct topic *t = image_find(&m->im, name, len);
	if (t != NULL) {
		topic_unref(t);
		snprintf(err, errlen, "Topic '%s' already exists.", name);
		return KAFKA_TOPIC_ALREADY_EXISTS;
	}
	t = image_find_norm(&m->im, name, len);
	if (t != NULL) {
		/* '.' and '_' both become '_' in metric names: Kafka refuses the pair */
		snprintf(err, errlen, "Topic '%s' collides with existing topic: %s", name, t->name);
		topic_unref(t);
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	}
	return KAFKA_NONE;
}

/* The durable part of a create (steps 2-4); mu held. */
static int create_commit(struct meta *m, const char *name, int32_t nparts, const struct kv *configs,
			 size_t nconfigs, struct topic **out, char *err, size_t errlen)
{
	uint8_t id[16];
	struct topic *dup = NULL;
	do {
		topic_unref(dup);
		if (uuid_random(id) != 0) {
			snprintf(err, errlen, "getrandom: %s", strerror(errno));
			return KAFKA_UNKNOWN_SERVER_ERROR;
		}
	} while ((dup = image_find_id(&m->im, id)) != NULL);
	struct topic *t = image_topic_new(&m->im, name, id, nparts, configs, nconfigs);
	if (t == NULL || image_reserve(&m->im) != 0) {
		if (t != NULL)
			image_topic_discard(t, 0);
		snprintf(err, errlen, "out of memory");
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	cfg_fill(m, t);
	int rc = parts_open(m, t, 0, true, err, errlen);
	if (rc != KAFKA_NONE) {
		image_topic_discard(t, 0);
		return rc;
	}
	struct mrec r = { .type = MREC_TOPIC, .name = t->name, .count = nparts,
			  .configs = t->configs, .nconfigs = t->nconfigs };
	memcpy(r.id, id, 16);
	rc = metalog_append(m->ml, &r);
	if (rc != KAFKA_NONE) {
		snprintf(err, errlen, "Cannot write topic '%s' to the metadata log.", name);
		image_topic_discard(t, 0);
		return rc;
	}
	if (out != NULL)
		topic_ref(t);
	image_insert(&m->im, t);
	if (out != NULL)
		*out = t;
	maybe_snapshot(m);
	return KAFKA_NONE;
}

int meta_topic_create(struct meta *m, const char *name, int32_t partitions, int32_t rf,
		      const struct kv *configs, size_t nconfigs, bool validate_only,
		      struct topic **out, char *err, size_t errlen)
{
	int rc;
	if (out != NULL)
		*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (meta_topic_name_valid(name, name ? strlen(name) : 0, err, errlen) != 0)
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	/* Wait for an earlier topic of this name to let go of its files
	 * without holding mu: its last holder may be waiting for mu. */
	bool gone = validate_only || image_pending_wait(&m->im, name, PENDING_WAIT_MS);
	pthread_mutex_lock(&m->mu);
	rc = name_check(m, name, err, errlen);
	if (rc == KAFKA_NONE)
		rc = counts_check(m, &partitions, rf, err, errlen);
	if (rc == KAFKA_NONE)
		rc = configs_check(configs, nconfigs, err, errlen);
	/* recheck under mu: the name may have been created and deleted meanwhile */
	if (rc == KAFKA_NONE && !validate_only && (!gone || !image_pending_wait(&m->im, name, 0))) {
		snprintf(err, errlen, "Topic '%s' is marked for deletion.", name);
		rc = KAFKA_TOPIC_ALREADY_EXISTS;
	}
	if (rc == KAFKA_NONE && !validate_only)
		rc = create_commit(m, name, partitions, configs, nconfigs, out, err, errlen);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ======================================================= delete */

int meta_topic_delete(struct meta *m, struct topic *t)
{
	int rc = KAFKA_NONE;
	if (t == NULL)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	if (!m->cfg->delete_topic_enable)
		return KAFKA_TOPIC_DELETION_DISABLED;
	if (t->internal)
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	pthread_mutex_lock(&m->mu);
	/* t may be an older version: act on the newest */
	struct topic *cur = image_find_id(&m->im, t->id);
	struct mrec r = { .type = MREC_REMOVE_TOPIC };
	memcpy(r.id, t->id, 16);
	if (cur == NULL)
		rc = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	else
		rc = metalog_append(m->ml, &r);
	if (rc == KAFKA_NONE) {
		image_remove(&m->im, cur);
		maybe_snapshot(m);
	}
	/* the last reference may be ours: the partition logs go with it */
	topic_unref(cur);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ======================================================= change a topic */

/* Publishes nt after its record r is durable; mu held. On failure deletes
 * nt's partitions from `from` and frees it. */
static int change_commit(struct meta *m, struct topic *cur, struct topic *nt, int32_t from,
			 const struct mrec *r, char *err, size_t errlen)
{
	int rc = metalog_append(m->ml, r);
	if (rc != KAFKA_NONE) {
		snprintf(err, errlen, "Cannot write the change of topic '%s' to the metadata log.", cur->name);
		image_topic_discard(nt, from);
		return rc;
	}
	image_replace(&m->im, cur, nt);
	plogs_update(nt);
	maybe_snapshot(m);
	return KAFKA_NONE;
}

/* Checks a CreatePartitions count against the newest version cur. */
static int total_check(const struct topic *cur, int32_t total, char *err, size_t errlen)
{
	if (total > META_MAX_PARTITIONS) {
		snprintf(err, errlen, "Number of partitions %" PRId32 " is larger than the maximum of %d.",
			 total, META_MAX_PARTITIONS);
		return KAFKA_INVALID_PARTITIONS;
	}
	if (total == cur->npartitions) {
		snprintf(err, errlen, "Topic already has %" PRId32 " partitions.", total);
		return KAFKA_INVALID_PARTITIONS;
	}
	if (total < cur->npartitions) {
		snprintf(err, errlen, "Topic currently has %" PRId32 " partitions, which is higher than "
			 "the requested %" PRId32 ".", cur->npartitions, total);
		return KAFKA_INVALID_PARTITIONS;
	}
	return KAFKA_NONE;
}

int meta_partitions_create(struct meta *m, struct topic *t, int32_t total, bool validate_only,
			   char *err, size_t errlen)
{
	int rc;
	if (errlen > 0)
		err[0] = '\0';
	if (t == NULL)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	pthread_mutex_lock(&m->mu);
	struct topic *cur = image_find_id(&m->im, t->id), *nt = NULL;
	rc = cur ? total_check(cur, total, err, errlen) : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	if (rc == KAFKA_NONE && !validate_only) {
		nt = image_topic_derive(cur, total, NULL, NULL);
		if (nt != NULL)
			cfg_fill(m, nt);
		rc = nt ? parts_open(m, nt, cur->npartitions, true, err, errlen) : KAFKA_UNKNOWN_SERVER_ERROR;
		if (rc != KAFKA_NONE && nt != NULL)
			image_topic_discard(nt, cur->npartitions);
	}
	if (rc == KAFKA_NONE && !validate_only) {
		struct mrec r = { .type = MREC_PARTITIONS, .count = total };
		memcpy(r.id, cur->id, 16);
		rc = change_commit(m, cur, nt, cur->npartitions, &r, err, errlen);
	}
	topic_unref(cur);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* Checks a config change; value NULL removes the override. */
static int config_change_check(const char *key, const char *value, char *err, size_t errlen)
{
	if (key == NULL || topic_config_key_find(key) == NULL) {
		snprintf(err, errlen, "Unknown topic config name: %s", key ? key : "null");
		return KAFKA_INVALID_CONFIG;
	}
	if (value == NULL)
		return KAFKA_NONE;
	struct kv one = { (char *)key, (char *)value };
	return configs_check(&one, 1, err, errlen);
}

/* The override of key in t, or NULL. */
static const char *override_of(const struct topic *t, const char *key)
{
	for (size_t i = 0; i < t->nconfigs; i++)
		if (strcmp(t->configs[i].key, key) == 0)
			return t->configs[i].value;
	return NULL;
}

int meta_topic_config_set(struct meta *m, struct topic *t, const char *key, const char *value,
			  char *err, size_t errlen)
{
	if (errlen > 0)
		err[0] = '\0';
	if (t == NULL)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	int rc = config_change_check(key, value, err, errlen);
	if (rc != KAFKA_NONE)
		return rc;
	pthread_mutex_lock(&m->mu);
	struct topic *cur = image_find_id(&m->im, t->id);
	const char *old = cur ? override_of(cur, key) : NULL;
	if (cur == NULL) {
		rc = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	} else if ((old == NULL && value == NULL) || (old && value && strcmp(old, value) == 0)) {
		rc = KAFKA_NONE; /* already so: no record */
	} else {
		struct topic *nt = image_topic_derive(cur, cur->npartitions, key, value);
		if (nt != NULL)
			cfg_fill(m, nt);
		struct mrec r = { .type = MREC_TOPIC_CONFIG, .key = (char *)key, .value = (char *)value };
		memcpy(r.id, cur->id, 16);
		rc = nt ? change_commit(m, cur, nt, cur->npartitions, &r, err, errlen)
			: KAFKA_UNKNOWN_SERVER_ERROR;
	}
	topic_unref(cur);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ======================================================= alter configs */

/* APPEND/SUBTRACT on a topic key without an override start from the
 * value the topic shows without it: the broker's effective value. */
static void topic_base(void *arg, const char *key, char *out, size_t outlen)
{
	struct meta *m = arg;
	settings_topic_value(&m->st, NULL, 0, key, out, outlen);
}

int meta_topic_configs_alter(struct meta *m, struct topic *t, const struct cfg_change *ch, size_t n,
			     bool replace_all, bool validate_only, char *err, size_t errlen)
{
	struct cfgset s = { NULL, 0 };
	if (errlen > 0)
		err[0] = '\0';
	if (t == NULL)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	pthread_mutex_lock(&m->mu);
	struct topic *cur = image_find_id(&m->im, t->id);
	int rc = cur ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	if (rc == KAFKA_NONE && cfgset_init(&s, cur->configs, replace_all ? 0 : cur->nconfigs) != 0)
		rc = KAFKA_UNKNOWN_SERVER_ERROR;
	if (rc == KAFKA_NONE)
		rc = cfgset_apply(&s, false, ch, n, topic_base, m, err, errlen);
	if (rc == KAFKA_NONE && !validate_only && !cfgset_same(s.v, s.n, cur->configs, cur->nconfigs)) {
		struct topic *nt = image_topic_derive_set(cur, s.v, s.n);
		struct mrec r = { .type = MREC_TOPIC_CONFIGS, .configs = nt ? nt->configs : NULL,
				  .nconfigs = nt ? nt->nconfigs : 0 };
		memcpy(r.id, cur->id, 16);
		if (nt != NULL)
			cfg_fill(m, nt);
		rc = nt ? change_commit(m, cur, nt, cur->npartitions, &r, err, errlen)
			: KAFKA_UNKNOWN_SERVER_ERROR;
	}
	cfgset_fini(&s);
	topic_unref(cur);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

struct broker_base_arg {
	struct meta *m;
	bool cluster_default;      /* the scope being altered */
};

/* APPEND/SUBTRACT on a broker key the scope does not set start from the
 * value the key has without it: the first synonym of another source. */
static void broker_base(void *arg, const char *key, char *out, size_t outlen)
{
	const struct broker_base_arg *a = arg;
	struct cfg_syn syn[8];
	int skip = a->cluster_default ? CFG_SRC_DYNAMIC_DEFAULT_BROKER : CFG_SRC_DYNAMIC_BROKER;
	size_t n = meta_config_synonyms(a->m, NULL, key, syn, 8);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (syn[i].source != skip) {
			snprintf(out, outlen, "%s", syn[i].value);
			return;
		}
	}
}

/* Makes a changed broker scope durable and applies it (mu held). Takes
 * the set's memory on success. */
static int broker_commit(struct meta *m, bool cluster_default, struct cfgset *s, char *err, size_t errlen)
{
	struct mrec r = { .type = MREC_BROKER_CONFIGS, .node_id = cluster_default ? -1 : m->cfg->node_id,
			  .configs = s->v, .nconfigs = s->n };
	int rc = metalog_append(m->ml, &r);
	if (rc != KAFKA_NONE) {
		snprintf(err, errlen, "Cannot write the broker configs to the metadata log.");
		return rc;
	}
	log_info("meta", "dynamic broker configs (%s) changed: %zu set",
		 cluster_default ? "cluster default" : "this node", s->n);
	settings_replace(&m->st, cluster_default, s->v, s->n);
	s->v = NULL;
	s->n = 0;
	republish_all(m);
	maybe_snapshot(m);
	return KAFKA_NONE;
}

int meta_broker_configs_alter(struct meta *m, bool cluster_default, const struct cfg_change *ch,
			      size_t n, bool replace_all, bool validate_only, char *err, size_t errlen)
{
	struct cfgset s = { NULL, 0 };
	struct kv *old = NULL;
	size_t nold = 0;
	struct broker_base_arg arg = { m, cluster_default };
	if (errlen > 0)
		err[0] = '\0';
	pthread_mutex_lock(&m->mu);
	int rc = KAFKA_NONE;
	if (settings_copy(&m->st, cluster_default, &old, &nold) != 0 ||
	    cfgset_init(&s, old, replace_all ? 0 : nold) != 0) {
		snprintf(err, errlen, "out of memory");
		rc = KAFKA_UNKNOWN_SERVER_ERROR;
	}
	if (rc == KAFKA_NONE)
		rc = cfgset_apply(&s, true, ch, n, broker_base, &arg, err, errlen);
	if (rc == KAFKA_NONE && !validate_only && !cfgset_same(s.v, s.n, old, nold))
		rc = broker_commit(m, cluster_default, &s, err, errlen);
	cfgset_fini(&s);
	meta_kv_free(old, nold);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

struct kv *meta_broker_configs(struct meta *m, bool cluster_default, size_t *n)
{
	struct kv *v = NULL;
	if (settings_copy(&m->st, cluster_default, &v, n) != 0)
		*n = 0;
	return v;
}

void meta_kv_free(struct kv *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

/* The effective value of broker key `key` as text (dynamic over static). */
static void broker_value(struct meta *m, const char *key, char *out, size_t outlen)
{
	struct cfg_syn syn[8];
	size_t n = meta_config_synonyms(m, NULL, key, syn, 8);
	const struct config_key *k = config_key_find(key);
	bool dynamic = n > 0 && (syn[0].source == CFG_SRC_DYNAMIC_BROKER ||
				 syn[0].source == CFG_SRC_DYNAMIC_DEFAULT_BROKER);
	if (dynamic)
		snprintf(out, outlen, "%s", syn[0].value);
	else if (k != NULL)
		config_value_text(m->cfg, k, out, outlen);
	else
		out[0] = '\0';
}

static int64_t broker_num(struct meta *m, const char *key)
{
	char buf[CFG_VALUE_MAX];
	broker_value(m, key, buf, sizeof buf);
	return strtoll(buf, NULL, 10);
}

void meta_cleaner_config(struct meta *m, struct cleaner_config *out)
{
	char buf[CFG_VALUE_MAX];
	const struct config *c = m->cfg;
	out->enable = c->log_cleaner_enable; /* read-only in Kafka too */
	out->threads = (int32_t)broker_num(m, "log.cleaner.threads");
	out->dedupe_buffer_size = broker_num(m, "log.cleaner.dedupe.buffer.size");
	out->io_buffer_size = (int32_t)broker_num(m, "log.cleaner.io.buffer.size");
	out->backoff_ms = broker_num(m, "log.cleaner.backoff.ms");
	broker_value(m, "log.cleaner.io.max.bytes.per.second", buf, sizeof buf);
	out->io_max_bytes_per_second = strtod(buf, NULL);
}

/* ======================================================= producer ids */

/* pids_reserve_fn: makes the block ending at end durable (one PRODUCER_IDS
 * record), then publishes it in p->reserved before a snapshot can be taken,
 * so a snapshot never loses it. Takes mu (pids.mu is held: order pids.mu,
 * then mu). Storage errors become COORDINATOR_LOAD_IN_PROGRESS, the code
 * Kafka's broker answers while it cannot get a producer-id block from its
 * controller: the client retries. */
static int pid_block_reserve(void *arg, struct pids *p, int64_t end)
{
	struct meta *m = arg;
	struct mrec r = { .type = MREC_PRODUCER_IDS, .node_id = m->cfg->node_id, .next_pid = end };
	pthread_mutex_lock(&m->mu);
	int rc = metalog_append(m->ml, &r);
	if (rc == KAFKA_NONE) {
		p->reserved = end;
		maybe_snapshot(m);
	}
	pthread_mutex_unlock(&m->mu);
	return rc == KAFKA_NONE ? KAFKA_NONE : KAFKA_COORDINATOR_LOAD_IN_PROGRESS;
}

int meta_producer_id_next(struct meta *m, int64_t *pid)
{
	return pids_next(&m->pids, pid, pid_block_reserve, m);
}
