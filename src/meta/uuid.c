/*
 * uuid.c — random UUIDs and their base64url text (uuid.h).
 *
 * Randomness comes from getrandom(2) (the kernel's CSPRNG; blocks only
 * before the pool is first initialised at boot). Version 4 layout, RFC 9562:
 * byte 6 high nibble = 4 (version), byte 8 top two bits = 10 (variant).
 */
#include "meta/uuid.h"

#include <errno.h>
#include <sys/random.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Fills p with n random bytes, retrying after EINTR and short reads. */
static int fill_random(uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int uuid_random(uint8_t id[16])
{
	do {
		if (fill_random(id, 16) != 0)
			return -1;
		id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
		id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	} while ((id[0] >> 2) == 62); /* text would start with '-' */
	return 0;
}

void uuid_base64(const uint8_t id[16], char out[UUID_STR_LEN + 1])
{
	size_t o = 0;
	int i;
	for (i = 0; i + 3 <= 16; i += 3) {
		uint32_t v = (uint32_t)id[i] << 16 | (uint32_t)id[i + 1] << 8 | id[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	/* one byte left (16 = 5 * 3 + 1): two chars, no padding */
	out[o++] = b64url[id[i] >> 2];
	out[o++] = b64url[(id[i] & 3) << 4];
	out[o] = '\0';
}
