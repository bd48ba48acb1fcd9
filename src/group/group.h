/*
 * group.h — one classic consumer group (JoinGroup/SyncGroup/Heartbeat/
 * LeaveGroup) as a pure state machine: every entry point takes an event and
 * the time, changes the group, and appends the responses that are now
 * complete to a `struct group_out`. No I/O, no threads, no clock inside;
 * the caller ticks the group at `group_next_deadline()`. The states, the
 * transitions and the function that performs each are in group.c's design
 * note; gcoord.h holds the set of groups keyed by group id.
 *
 * Threads: a group is not locked; one thread (the coordinator's owner) calls
 * every function of one group.
 *
 * Strings in requests are NUL-terminated and borrowed for the call only:
 * what the group keeps it copies. Responses in a `group_out` are owned by it
 * and freed by group_out_reset()/group_out_fini().
 */
#ifndef RUNNEL_GROUP_GROUP_H
#define RUNNEL_GROUP_GROUP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a request may make the coordinator keep. Kafka has none
 * below socket.request.max.bytes; these keep one member's footprint small.
 * Exceeding one is INVALID_REQUEST (see group_join_check()). */
enum {
	GROUP_MAX_PROTOCOLS = 64,            /* protocols in one JoinGroup */
	GROUP_MAX_METADATA_BYTES = 1 << 20,  /* sum of one join's protocol metadata */
	GROUP_MAX_ASSIGNMENT_BYTES = 1 << 20,/* one member's assignment in SyncGroup */
	GROUP_MAX_STR_LEN = 32767,           /* ids, names: Kafka's int16 string bound */
	GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS = 300000, /* Kafka's NewMemberJoinTimeoutMs */
};

/* Kafka's group states (the names DescribeGroups and ListGroups report). */
enum group_state {
	GROUP_EMPTY,
	GROUP_PREPARING_REBALANCE,
	GROUP_COMPLETING_REBALANCE,
	GROUP_STABLE,
	GROUP_DEAD,
};

struct group_cfg {
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms, 3000 */
	int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms, 6000 */
	int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms, 1800000 */
	int32_t max_size;                   /* group.max.size, INT32_MAX */
	int32_t new_member_join_timeout_ms; /* GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS */
	/* Source of the 16 random bytes of a member id's UUID; NULL: getrandom(2).
	 * Returns 0, or -1 on failure (the join then gets UNKNOWN_SERVER_ERROR). */
	int (*random)(void *ctx, uint8_t out[16]);
	void *random_ctx;                   /* borrowed, passed to random */
};

/* One entry of a JoinGroup's protocol list (name, opaque metadata). */
struct group_protocol {
	const char *name;
	const uint8_t *metadata;   /* may be NULL when metadata_len is 0 */
	int32_t metadata_len;
};

struct group_join_req {
	uint64_t tag;                  /* caller's handle, echoed in the response */
	int16_t api_version;           /* MEMBER_ID_REQUIRED from v4, skip_assignment v9 */
	const char *member_id;         /* "" on a first join */
	const char *group_instance_id; /* NULL: dynamic member (KIP-345) */
	const char *client_id;         /* prefix of the generated member id */
	const char *client_host;       /* for DescribeGroups; may be NULL */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;  /* v0 has none: <= 0 means session_timeout_ms */
	const char *protocol_type;     /* "consumer", "connect", ... */
	const struct group_protocol *protocols; /* in the member's preference order */
	int32_t nprotocols;
};

/* One member's assignment in the leader's SyncGroup. */
struct group_assignment {
	const char *member_id;
	const uint8_t *assignment;
	int32_t assignment_len;
};

struct group_sync_req {
	uint64_t tag;
	const char *member_id;
	const char *group_instance_id; /* NULL when absent (v0-2) */
	int32_t generation_id;
	const char *protocol_type;     /* v5+; NULL when absent */
	const char *protocol_name;     /* v5+; NULL when absent */
	const struct group_assignment *assignments; /* the leader's; others send none */
	int32_t nassignments;
};

/* One member of a LeaveGroup (v3+ batches them; v0-2 carry one member id).
 * error_code is written by group_leave(). */
struct group_leave_member {
	const char *member_id;         /* "" with a group_instance_id: find by instance */
	const char *group_instance_id; /* NULL when absent */
	int16_t error_code;            /* out */
};

/* A member as the leader sees it in its JoinGroup response. All owned by the
 * response. */
struct group_resp_member {
	char *member_id;
	char *group_instance_id;       /* NULL: dynamic */
	uint8_t *metadata;             /* the selected protocol's metadata */
	int32_t metadata_len;
};

enum group_resp_kind { GROUP_RESP_JOIN, GROUP_RESP_SYNC };

/* A completed JoinGroup or SyncGroup response. Strings are NULL when the
 * response has none (an error response); the handler writes "" or null as
 * the API version wants. Everything is owned by the group_out. */
struct group_resp {
	enum group_resp_kind kind;
	uint64_t tag;                  /* the request's tag */
	int16_t error_code;            /* a Kafka code */
	char *protocol_type;
	char *protocol_name;
	/* JoinGroup only */
	int32_t generation_id;         /* -1 with an error */
	char *leader;
	char *member_id;               /* the member's id (new on MEMBER_ID_REQUIRED) */
	bool skip_assignment;          /* v9+: a static leader rejoined a Stable group */
	struct group_resp_member *members; /* the leader's list; else NULL */
	int32_t nmembers;
	/* SyncGroup only */
	uint8_t *assignment;
	int32_t assignment_len;
};

/* The actions a step asks the caller to perform: send these responses, and
 * tick again at next_deadline_ms. */
struct group_out {
	struct group_resp *resps;      /* owned; n used of cap */
	size_t n, cap;
	int64_t next_deadline_ms;      /* of the group(s) the step touched; INT64_MAX: none */
	/* Groups whose metadata must be written to __consumer_offsets now
	 * (Kafka's storeGroup): the leader's SyncGroup completed a generation,
	 * a static member was replaced in Stable, or the group became Empty.
	 * Owned copies of the group ids, each at most once per step. */
	char **stores;
	size_t nstores, capstores;
};

/* A member, read-only to callers (DescribeGroups, tests). */
struct group_member_proto {
	char *name;
	uint8_t *metadata;
	int32_t metadata_len;
};
struct group_member {
	char *member_id;               /* owned */
	char *group_instance_id;       /* owned; NULL: dynamic */
	char *client_id;               /* owned */
	char *client_host;             /* owned; "" when unknown */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct group_member_proto *protocols; /* owned; preference order */
	int32_t nprotocols;
	uint8_t *assignment;           /* owned; NULL: none yet */
	int32_t assignment_len;
	int64_t hb_deadline_ms;        /* session ends here unless kept alive (ms, caller's clock) */
	bool is_new;                   /* joined in the current rebalance, not yet answered */
	bool awaiting_join;            /* a JoinGroup is parked under join_tag */
	bool awaiting_sync;            /* a SyncGroup is parked under sync_tag */
	bool pending_sync;             /* must still send SyncGroup this generation */
	int16_t join_version;          /* api_version of the parked JoinGroup */
	uint64_t join_tag;
	uint64_t sync_tag;
};

struct group;

/* Kafka's defaults. */
void group_cfg_defaults(struct group_cfg *cfg);
/* "Empty", "PreparingRebalance", ... as Kafka names them. */
const char *group_state_name(enum group_state st);

/* A new Empty group with generation 0. Copies group_id and cfg. NULL when
 * out of memory. Free with group_free(). */
struct group *group_new(const char *group_id, const struct group_cfg *cfg);
/* Frees the group and everything it holds. Parked requests are dropped
 * without a response: call group_unload() first to answer them. */
void group_free(struct group *g);

/* The checks of a JoinGroup that need no group: session timeout against the
 * cfg (INVALID_SESSION_TIMEOUT), sizes and counts (INVALID_REQUEST), a
 * missing protocol type or an empty protocol list
 * (INCONSISTENT_GROUP_PROTOCOL). Returns KAFKA_NONE or the code. */
int group_join_check(const struct group_join_req *req, const struct group_cfg *cfg);

/* JoinGroup. The response goes to out now or, when the member must wait for
 * the rebalance, at a later step; either way exactly once. Copies what it
 * keeps from req. */
void group_join(struct group *g, const struct group_join_req *req, int64_t now_ms,
                struct group_out *out);
/* SyncGroup; same contract as group_join (a follower waits for the leader). */
void group_sync(struct group *g, const struct group_sync_req *req, int64_t now_ms,
                struct group_out *out);
/* Heartbeat: returns the Kafka code to answer with (NONE, UNKNOWN_MEMBER_ID,
 * ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID,
 * COORDINATOR_NOT_AVAILABLE). May complete other members' requests (timers
 * that were due) into out. */
int group_heartbeat(struct group *g, const char *member_id, const char *group_instance_id,
                    int32_t generation_id, int64_t now_ms, struct group_out *out);
/* LeaveGroup of n members; writes each member's code into members[i] and
 * returns the top-level code (NONE, or COORDINATOR_NOT_AVAILABLE when Dead).
 * v0-2 answer with members[0].error_code. */
int group_leave(struct group *g, struct group_leave_member *members, int32_t n,
                int64_t now_ms, struct group_out *out);
/* Runs every timer due at now_ms: rebalance and initial delays, session
 * expiry, pending (MEMBER_ID_REQUIRED) member expiry, sync expiry. */
void group_tick(struct group *g, int64_t now_ms, struct group_out *out);
/* When the caller must tick next (ms, its clock); INT64_MAX: no timer. */
int64_t group_next_deadline(const struct group *g);

/* DeleteGroups: an Empty group becomes Dead (returns NONE); otherwise
 * NON_EMPTY_GROUP, or GROUP_ID_NOT_FOUND when already Dead. */
int group_delete(struct group *g);
/* The coordinator gives the group up (shutdown, partition moved): Dead;
 * parked requests are answered NOT_COORDINATOR. */
void group_unload(struct group *g, struct group_out *out);

/* Accessors (tests, DescribeGroups). Strings borrowed from the group until
 * its next step. */
const char *group_id(const struct group *g);
enum group_state group_state(const struct group *g);
int32_t group_generation(const struct group *g);
const char *group_protocol_type(const struct group *g);  /* NULL: none */
const char *group_protocol_name(const struct group *g);  /* NULL: none */
const char *group_leader(const struct group *g);         /* NULL: none */
int32_t group_nmembers(const struct group *g);
int32_t group_npending(const struct group *g);            /* MEMBER_ID_REQUIRED ids */
const struct group_member *group_member_at(const struct group *g, int32_t i); /* join order */
const struct group_member *group_member_find(const struct group *g, const char *member_id);
/* True when the group holds nothing worth keeping: Empty, generation 0, no
 * member, no pending member (gcoord drops such groups). */
bool group_is_vacant(const struct group *g);

/* ---- persistence (__consumer_offsets) and offset commits ---- */

/* A group as Kafka's GroupMetadataValue records it. Strings and bytes are
 * borrowed (from the group for group_snapshot, from the caller for
 * group_load). */
struct group_snap_member {
	const char *member_id;
	const char *group_instance_id; /* NULL: dynamic */
	const char *client_id;
	const char *client_host;
	int32_t rebalance_timeout_ms;
	int32_t session_timeout_ms;
	const uint8_t *subscription;   /* metadata of the selected protocol */
	int32_t subscription_len;
	const uint8_t *assignment;     /* may be NULL when assignment_len is 0 */
	int32_t assignment_len;
};
struct group_snap {
	const char *protocol_type;     /* NULL or "": none (an Empty group) */
	int32_t generation_id;
	const char *protocol_name;     /* NULL: none */
	const char *leader;            /* NULL: none */
	int64_t state_since_ms;        /* caller's clock: when the current state began */
	struct group_snap_member *members; /* owned by the snap (group_snapshot) */
	int32_t nmembers;
};

/* The group as it is now, for writing: Stable groups with their members
 * and assignments, Empty groups without members. Returns 0, or -1 when out
 * of memory. members is malloc'd (free with group_snap_fini); the strings
 * are borrowed from g until its next step. */
int group_snapshot(const struct group *g, struct group_snap *out);
void group_snap_fini(struct group_snap *s);
/* Rebuilds a group from its last record at start-up: Stable with the
 * members, the selected protocol (each member supports exactly that one,
 * with its subscription) and the assignments, when there are members;
 * Empty otherwise. Members get a fresh session deadline (now + their
 * session timeout), so a client that kept heartbeating across the restart
 * stays, and a dead one is expired as usual. Copies everything. NULL when
 * out of memory or the snap is inconsistent (leader not a member, members
 * without a protocol). */
struct group *group_load(const char *group_id, const struct group_cfg *cfg,
                         const struct group_snap *s, int64_t now_ms);
/* When the group entered its current state (caller's clock). */
int64_t group_state_since(const struct group *g);

/* OffsetCommit's member check, in the order of Kafka's classic
 * coordinator (handleCommitOffsets):
 *  1. Dead: COORDINATOR_NOT_AVAILABLE;
 *  2. a fenced static instance: FENCED_INSTANCE_ID;
 *  3. generation_id < 0 and the group Empty: NONE (a commit from outside
 *     the group protocol: assign(), admin tools);
 *  4. CompletingRebalance: REBALANCE_IN_PROGRESS;
 *  5. member_id not a member: UNKNOWN_MEMBER_ID;
 *  6. generation_id != the group's: ILLEGAL_GENERATION;
 *  7. NONE (Stable, or PreparingRebalance for the current generation), and
 *     the member's session restarts (a commit counts as a heartbeat).
 * Runs due timers first like every step. A group unknown to the caller is
 * the caller's business (gcoord_commit_check). */
int group_commit_check(struct group *g, const char *member_id, const char *group_instance_id,
                       int32_t generation_id, int64_t now_ms, struct group_out *out);

/* Append a bare error response (no group needed: bad group id, unknown
 * group). JoinGroup echoes member_id ("" when NULL). */
void group_out_join_error(struct group_out *out, uint64_t tag, const char *member_id, int err);
void group_out_sync_error(struct group_out *out, uint64_t tag, int err);

/* Output lists. init: empty; reset: frees the responses, keeps the array;
 * fini: frees everything. */
void group_out_init(struct group_out *out);
void group_out_reset(struct group_out *out);
void group_out_fini(struct group_out *out);
#endif
