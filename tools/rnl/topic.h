/*
 * topic — what topic.c shares with describe.c (the rest of `rnl topic`).
 */
#ifndef RNL_TOPIC_H
#define RNL_TOPIC_H

#include "client.h"

/* The usage text of `rnl topic` (static storage). */
const char *topic_usage_text(void);

/* Opens the admin (producer-type) client the topic verbs use. Returns
 * RNL_EXIT_OK, or the exit code to return after printing the error. */
int topic_open_admin(client_t *cl, rnl_ctx_t *ctx);

#endif
