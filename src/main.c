/*
 * main.c — the runnel broker daemon.
 *
 *   runnel [CONFIG_FILE] [--override key=value]... [--help] [--version]
 *
 * Start-up: built-in defaults < properties file < overrides (as
 * kafka-server-start.sh takes them); log level; the data directory
 * (logdir_open recovers partitions); the metadata image (meta_open); the
 * network (net_start). Then "started" is logged — the integration harness
 * waits for that word — and the main thread sleeps in sigwait.
 *
 * Signals: SIGTERM, SIGINT and SIGPIPE are blocked before any thread
 * exists, so every thread inherits the mask and only sigwait here sees
 * SIGTERM/SIGINT; SIGPIPE is also ignored (a reset peer gives EPIPE).
 *
 * Shutdown, in dependency order: net_stop (no new requests; handlers
 * answer or give up), meta_close, logdir_close (flush, checkpoint,
 * clean-shutdown marker), then net_free (no thread can post any more).
 *
 * Exit status: 0 after a clean shutdown or --help/--version, 1 when
 * start-up fails, 2 for a usage error (bad option, unknown config key).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "broker.h"
#include "coord/coord.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "net/net.h"
#include "txn/treg.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"

struct broker *g_broker;

#define MAIN_MAX_OVERRIDES 256

struct main_args {
	const char *config_file;               /* NULL: defaults only */
	const char *overrides[MAIN_MAX_OVERRIDES]; /* "key=value", borrowed from argv */
	int noverrides;
	bool help, version;
};

/* ------------------------------------------------------------- usage */

static const char *main_type_name(enum config_type t)
{
	static const char *const names[] = { "string", "int", "long", "short", "boolean", "list",
					     "class", "double" };
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void main_usage(FILE *f)
{
	fprintf(f, "usage: runnel [CONFIG_FILE] [--override key=value]... [--help] [--version]\n"
		   "\n"
		   "Starts a runnel broker (Kafka wire protocol). Settings come from the\n"
		   "built-in defaults, then CONFIG_FILE (server.properties format), then\n"
		   "each --override, later ones winning. SIGTERM or SIGINT stops it cleanly.\n");
}

static void main_help(void)
{
	main_usage(stdout);
	printf("\nConfiguration keys (default in brackets):\n");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		printf("  %-44s %-7s [%s]\n      %s%s%s\n", k->name, main_type_name(k->type),
		       k->def ? k->def : "null", k->doc ? k->doc : "",
		       k->overridden_by ? "; overridden by " : "", k->overridden_by ? k->overridden_by : "");
	}
}

/* Returns 0, or 2 after printing a usage error. */
static int main_parse_args(int argc, char **argv, struct main_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *ov = NULL;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			a->help = true;
		} else if (strcmp(s, "--version") == 0 || strcmp(s, "-V") == 0) {
			a->version = true;
		} else if (strcmp(s, "--override") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "runnel: --override needs key=value\n");
				return 2;
			}
			ov = argv[++i];
		} else if (strncmp(s, "--override=", 11) == 0) {
			ov = s + 11;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "runnel: unknown option '%s'\n", s);
			main_usage(stderr);
			return 2;
		} else if (!a->config_file) {
			a->config_file = s;
		} else {
			fprintf(stderr, "runnel: more than one config file ('%s', '%s')\n", a->config_file, s);
			return 2;
		}
		if (ov) {
			if (!strchr(ov, '=') || ov[0] == '=' || a->noverrides == MAIN_MAX_OVERRIDES) {
				fprintf(stderr, "runnel: --override wants key=value, got '%s'\n", ov);
				return 2;
			}
			a->overrides[a->noverrides++] = ov;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- config */

/* Returns 0, 1 (bad file or value) or 2 (unknown key). */
static int main_configure(struct config *cfg, const struct main_args *a)
{
	char err[512];
	config_defaults(cfg);
	if (a->config_file && config_load_file(cfg, a->config_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "runnel: %s\n", err);
		return 1;
	}
	for (int i = 0; i < a->noverrides; i++) {
		const char *eq = strchr(a->overrides[i], '=');
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - a->overrides[i]), a->overrides[i]);
		int rc = config_set(cfg, key, eq + 1, err, sizeof(err));
		if (rc == 1) {
			fprintf(stderr, "runnel: --override: unknown config key '%s' (see runnel --help)\n", key);
			return 2;
		}
		if (rc != 0) {
			fprintf(stderr, "runnel: --override: %s\n", err);
			return 1;
		}
	}
	int lvl = log_parse_level(cfg->log_level);
	if (lvl < 0) {
		fprintf(stderr, "runnel: log.level: unknown level '%s'\n", cfg->log_level);
		return 1;
	}
	log_set_level((enum log_level)lvl);
	return 0;
}

/* mkdir -p. Returns 0 or -1 (errno). */
static int main_mkdirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The first entry of log.dirs (only one is used for now). */
static void main_data_dir(const struct config *cfg, char *out, size_t len)
{
	const char *s = cfg->log_dirs ? cfg->log_dirs : "./data";
	size_t n = strcspn(s, ",");
	while (n > 0 && s[n - 1] == ' ')
		n--;
	snprintf(out, len, "%.*s", (int)n, s);
}

/* ------------------------------------------------------------- running */

/* The open-file limit a broker wants: the kernel's ceiling for one
 * process (fs.nr_open), at most 1 Mi. */
static rlim_t main_nofile_wanted(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f != NULL) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 && v < (1u << 20) ? (rlim_t)v : (rlim_t)1 << 20;
}

/* Raises RLIMIT_NOFILE, as Kafka's operators are told to raise `ulimit
 * -n`: every partition holds descriptors open (its directory, the active
 * segment and its two indexes) and every client connection one more, so a
 * soft limit of 1024 caps a broker at a few hundred partitions, and even
 * a hard limit of 20,000 at ~5,000. With CAP_SYS_RESOURCE (root) both
 * limits go up to main_nofile_wanted() (Redis does the same); otherwise
 * the soft limit goes up to the hard one, which is the operator's. The
 * result is logged so that a broker that runs out says where its ceiling
 * was. */
static void main_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t was = rl.rlim_cur, wanted = main_nofile_wanted();
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < wanted &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit){ wanted, wanted }) == 0)
		rl.rlim_cur = rl.rlim_max = wanted;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("main", "cannot raise the open file limit from %llu to %llu: %s",
				 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
			return;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		log_info("main", "open file limit: unlimited");
	else
		log_info("main", "open file limit: %llu (was %llu; hard limit %llu)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)was,
			 (unsigned long long)rl.rlim_max);
}

static int main_open(struct broker *b, const char *dir)
{
	char err[512] = "";
	if (main_mkdirs(dir) != 0) {
		log_error("main", "cannot create data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	b->logdir = logdir_open(dir, b->cfg.log_flush_scheduler_interval_ms, err, sizeof(err));
	if (!b->logdir) {
		log_error("main", "cannot open data directory %s: %s", dir, err);
		return -1;
	}
	b->meta = meta_open(&b->cfg, b->logdir, err, sizeof(err));
	if (!b->meta) {
		log_error("main", "cannot open metadata: %s", err);
		return -1;
	}
	/* Retention and compaction run from here on; a broker that cannot
	 * keep its logs within their configured bounds does not start. */
	if (logdir_start_janitor(b->logdir, b->cfg.log_retention_check_interval_ms) != 0) {
		log_error("main", "cannot start the retention janitor: %s", strerror(errno));
		return -1;
	}
	struct cleaner_config cc;
	meta_cleaner_config(b->meta, &cc); /* static config under dynamic broker overrides */
	if (logdir_start_cleaner(b->logdir, &cc) != 0) {
		log_error("main", "cannot start the log cleaner: %s", strerror(errno));
		return -1;
	}
	/* KIP-890: a transactional batch opens a transaction in a partition
	 * only when the coordinator added that partition (src/txn/treg.h). */
	plog_set_txn_verify(treg_verify);
	/* Groups, committed offsets and transactions are loaded before anyone
	 * can ask. */
	if (coord_start() != 0) {
		log_error("main", "cannot start the coordinator");
		return -1;
	}
	if (net_start(b, err, sizeof(err)) != 0) {
		log_error("main", "cannot start the network: %s", err);
		return -1;
	}
	return 0;
}

static void main_close(struct broker *b)
{
	coord_stop(); /* answers parked group requests while the loops still run */
	net_stop(b);
	if (b->meta)
		meta_close(b->meta);
	b->meta = NULL;
	if (b->logdir)
		logdir_close(b->logdir);
	b->logdir = NULL;
	net_free(b);
}

static void main_announce(const struct broker *b, const char *dir)
{
	for (int i = 0; i < b->nlisteners; i++) {
		const struct listener_addr *a = &b->listeners[i];
		bool v6 = strchr(a->host, ':') != NULL;
		log_info("main", "runnel " RUNNEL_VERSION " listening on %s://%s%s%s:%d (data in %s, cluster id %s)",
			 a->name, v6 ? "[" : "", a->host, v6 ? "]" : "", a->port, dir, meta_cluster_id(b->meta));
	}
	log_info("main", "started (node %d, %d network threads)", b->cfg.node_id, b->nloops);
}

static void main_wait(const sigset_t *set)
{
	for (;;) {
		int sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("main", "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
	}
}

int main(int argc, char **argv)
{
	static struct broker broker;
	struct main_args args = { 0 };
	sigset_t set;
	int rc = main_parse_args(argc, argv, &args);
	if (rc != 0)
		return rc;
	if (args.version || args.help) {
		if (args.version)
			printf("runnel " RUNNEL_VERSION "\n");
		if (args.help)
			main_help();
		return 0;
	}
	/* Before any thread exists, so that all inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal is discarded even while blocked: sigwait would never see it.
	 * Blocked, the default action never runs. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);

	struct broker *b = &broker;
	rc = main_configure(&b->cfg, &args);
	if (rc != 0) {
		config_fini(&b->cfg);
		return rc;
	}
	b->start_ms = clock_wall_ms();
	g_broker = b;
	char dir[4096];
	main_data_dir(&b->cfg, dir, sizeof(dir));
	main_raise_nofile();
	rc = 0;
	if (main_open(b, dir) == 0) {
		main_announce(b, dir);
		main_wait(&set);
	} else {
		rc = 1;
	}
	main_close(b);
	if (rc == 0)
		log_info("main", "stopped");
	config_fini(&b->cfg);
	return rc;
}
