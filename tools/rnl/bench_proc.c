/*
 * bench_proc — CPU time and memory of this process, of the broker process
 * and of the mock cluster's threads, from getrusage() and /proc.
 *
 *   /proc/PID/stat     fields 14 and 15 (utime, stime) in clock ticks,
 *                      counted after the ')' that ends the command name
 *                      (which may itself hold spaces and parentheses)
 *   /proc/PID/status   "VmRSS:  1234 kB" (now), "VmHWM: ..." (peak since
 *                      the process started)
 *   /proc/net/tcp{,6}  listening sockets (state 0A): local port and inode;
 *                      /proc/PID/fd/N -> "socket:[INODE]" names the owner
 *
 * Finding the broker is best effort: processes of other users cannot be
 * looked into, and anything unexpected means "not found" (0), never an
 * error.
 */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_INODES 16

/* ---- one process or thread ---- */

/* Reads utime and stime (seconds) from a stat file. */
static bool read_stat(const char *path, double *user_s, double *sys_s)
{
	char buf[1024], *p;
	unsigned long long ut, st;
	long tick = sysconf(_SC_CLK_TCK);
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || tick <= 0)
		return false;
	/* After ") " come fields 3 (state) .. 13; utime and stime follow. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return false;
	*user_s = (double)ut / (double)tick;
	*sys_s = (double)st / (double)tick;
	return true;
}

/* The value (kB) of a "Name:  N kB" line of a status file, -1 if absent. */
static long read_status_kb(const char *path, const char *name)
{
	char line[256];
	size_t len = strlen(name);
	long kb = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

void bench_proc_self(bench_usage_t *u)
{
	struct rusage ru;

	*u = (bench_usage_t){ .rss_kb = -1, .hwm_kb = -1 };
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		u->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		u->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		u->ok = true;
	}
	u->rss_kb = read_status_kb("/proc/self/status", "VmRSS");
	u->hwm_kb = read_status_kb("/proc/self/status", "VmHWM");
}

void bench_proc_read(int pid, bench_usage_t *u)
{
	char path[64];

	*u = (bench_usage_t){ .rss_kb = -1, .hwm_kb = -1 };
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	u->ok = read_stat(path, &u->user_s, &u->sys_s);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	u->rss_kb = read_status_kb(path, "VmRSS");
	u->hwm_kb = read_status_kb(path, "VmHWM");
}

long bench_proc_rss(int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return read_status_kb(path, "VmRSS");
}

/* Reads a short file (comm) into buf without its newline. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

void bench_proc_threads(const char *prefix, bench_usage_t *u)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char path[300], comm[64];
	double us, ss;

	*u = (bench_usage_t){ .rss_kb = -1, .hwm_kb = -1 };
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		if (!read_line(path, comm, sizeof(comm)) || strncmp(comm, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		if (read_stat(path, &us, &ss)) {
			u->user_s += us;
			u->sys_s += ss;
			u->ok = true;
		}
	}
	closedir(d);
}

/* ---- finding a local broker ---- */

/* The port of "HOST:PORT" when HOST is this machine's loopback name and
 * there is one address only; 0 otherwise. */
static int local_port(const char *brokers)
{
	static const char *const hosts[] = { "localhost", "127.0.0.1", "[::1]", "::1", NULL };
	const char *colon = strrchr(brokers, ':');
	char *end;
	long port;

	if (!colon || strchr(brokers, ','))
		return 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return 0;
	for (const char *const *h = hosts; *h; h++)
		if (strlen(*h) == (size_t)(colon - brokers) &&
		    strncmp(brokers, *h, (size_t)(colon - brokers)) == 0)
			return (int)port;
	return 0;
}

/* Collects the inodes of sockets listening on port from one tcp table. */
static int listen_inodes(const char *table, int port, unsigned long *inodes, int n)
{
	char line[512], local[64];
	unsigned int lport, state;
	unsigned long inode;
	FILE *f = fopen(table, "r");

	if (!f)
		return n;
	while (n < MAX_INODES && fgets(line, sizeof(line), f)) {
		char *colon;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &state,
			   &inode) != 3)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
			continue;
		if (state == 0x0A && (int)lport == port && inode)
			inodes[n++] = inode;
	}
	fclose(f);
	return n;
}

/* True if process pid holds a descriptor on one of the socket inodes. */
static bool holds_socket(const char *pid, const unsigned long *inodes, int n)
{
	char path[600], link[64];
	DIR *d;
	struct dirent *de;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		unsigned long inode;
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) != 1)
			continue;
		for (int i = 0; i < n && !found; i++)
			found = inodes[i] == inode;
	}
	closedir(d);
	return found;
}

int bench_proc_find_broker(const char *brokers)
{
	unsigned long inodes[MAX_INODES];
	int port = local_port(brokers), n = 0, found = 0, pid = 0;
	char path[300], comm[64];
	DIR *d;
	struct dirent *de;

	if (!port)
		return 0;
	n = listen_inodes("/proc/net/tcp", port, inodes, n);
	n = listen_inodes("/proc/net/tcp6", port, inodes, n);
	if (n == 0 || !(d = opendir("/proc")))
		return 0;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		if (!read_line(path, comm, sizeof(comm)) || strcmp(comm, "runnel") != 0)
			continue;
		if (holds_socket(de->d_name, inodes, n)) {
			found++;
			pid = atoi(de->d_name);
		}
	}
	closedir(d);
	return found == 1 ? pid : 0;
}
