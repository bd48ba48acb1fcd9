/*
 * unit.h — a minimal unit-test harness. Each test file defines tests with
 * TEST(name) { ... } and ends with UNIT_MAIN(). Each test runs in its own
 * forked process with a timeout (a crash or hang fails that test only).
 * The binary prints one line per test and a closing "N passed, N failed".
 */
#ifndef RUNNEL_TESTS_UNIT_H
#define RUNNEL_TESTS_UNIT_H
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*unit_fn)(void);
struct unit_case { const char *name; unit_fn fn; };
extern struct unit_case unit_cases[];
extern int unit_ncases;

#define UNIT_MAX_CASES 512
/* The parameter is not called `name`: it would also replace the member
 * name in `.name = ...`. */
#define TEST(tname) \
	static void test_##tname(void); \
	__attribute__((constructor)) static void reg_##tname(void) { \
		unit_cases[unit_ncases].name = #tname; unit_cases[unit_ncases++].fn = test_##tname; } \
	static void test_##tname(void)

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); if (strcmp(_a, _b) != 0) { \
	fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, _a, _b); exit(1); } } while (0)

#define UNIT_MAIN() \
	struct unit_case unit_cases[UNIT_MAX_CASES]; int unit_ncases; \
	int main(int argc, char **argv) { \
		int passed = 0, failed = 0; \
		unsigned timeout = getenv("UNIT_TIMEOUT") ? (unsigned)atoi(getenv("UNIT_TIMEOUT")) : 60; \
		for (int i = 0; i < unit_ncases; i++) { \
			if (argc > 1 && strcmp(argv[1], unit_cases[i].name) != 0) continue; \
			fflush(stdout); \
			pid_t pid = fork(); \
			if (pid == 0) { alarm(timeout); unit_cases[i].fn(); fflush(NULL); _exit(0); } \
			int st = 0; waitpid(pid, &st, 0); \
			int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0; \
			printf("%s %s%s\n", ok ? "ok  " : "FAIL", unit_cases[i].name, \
			       WIFSIGNALED(st) ? (WTERMSIG(st) == SIGALRM ? " (timeout)" : " (signal)") : ""); \
			if (ok) passed++; else failed++; \
		} \
		printf("%s: %d passed, %d failed\n", argv[0], passed, failed); \
		return failed ? 1 : 0; \
	}
#endif
