/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vsock_vhost: guest to guest. The instances on one switch forward
 * packets between their guests below any stack, as rust-vmm's
 * vhost-device-vsock does for sibling VMs: a packet from guest A for guest
 * B's CID goes, unchanged, into B's rx ring when A and B share a group,
 * so credit and the connection's state stay between the two guests. A
 * packet for a CID no sibling in a common group has gets an RST, as a
 * connection to a port nobody listens on would.
 *
 * Forwarded packets wait in the receiving instance's queue for its
 * guest's rx buffers. A burst from a guest is taken only when every
 * running sibling has room for all of it (vh_switch_room), so nothing is
 * dropped: a guest that does not read holds up its siblings' sends, as a
 * full rx ring holds up the host. A sibling whose guest has not started
 * yet queues what comes until its queue is full, and answers RST after:
 * guests that boot together find each other, and one that never comes
 * holds up nobody.
 *
 * All on the polling lcore, which is one for all instances of a switch.
 */
#include <errno.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "vsock_vhost_private.h"

/* Instances on one switch, and group names it knows. */
#define VH_SWITCH_MAX 64
#define VH_SWITCH_GROUPS 64	/* bits of group_mask */

struct vsock_vhost_switch {
	struct vsock_vhost *members[VH_SWITCH_MAX];
	unsigned int nb;
	char groups[VH_SWITCH_GROUPS][VSOCK_VHOST_GROUP_LEN];
	unsigned int nb_groups;
};

struct vsock_vhost_switch *
vsock_vhost_switch_create(void)
{
	return rte_zmalloc("vsock_vhost_switch",
			sizeof(struct vsock_vhost_switch), 0);
}

void
vsock_vhost_switch_free(struct vsock_vhost_switch *sw)
{
	if (sw != NULL && sw->nb != 0)
		VH_LOG(ERR, "switch freed with %u instances on it", sw->nb);
	rte_free(sw);
}

/* The bit of group @name, added when new; -1 when the switch is full. */
static int
vh_group_bit(struct vsock_vhost_switch *sw, const char *name)
{
	unsigned int i;

	for (i = 0; i < sw->nb_groups; i++)
		if (strcmp(sw->groups[i], name) == 0)
			return (int)i;
	if (sw->nb_groups == VH_SWITCH_GROUPS)
		return -1;
	strcpy(sw->groups[sw->nb_groups], name);
	return (int)sw->nb_groups++;
}

static int
vh_groups_mask(struct vsock_vhost *vh, const struct vsock_vhost_conf *c,
		uint64_t *mask)
{
	static const char *const dflt[] = { "default" };
	const char *const *g = c->nb_groups > 0 ? c->groups : dflt;
	unsigned int n = c->nb_groups > 0 ? c->nb_groups : 1, i;

	if (n > VSOCK_VHOST_MAX_GROUPS || (c->nb_groups > 0 &&
			c->groups == NULL)) {
		VH_LOG(ERR, "%s: %u groups: at most %u", vh->path, n,
			VSOCK_VHOST_MAX_GROUPS);
		return -EINVAL;
	}
	*mask = 0;
	for (i = 0; i < n; i++) {
		int bit;

		if (g[i] == NULL || g[i][0] == '\0' ||
				strlen(g[i]) >= VSOCK_VHOST_GROUP_LEN ||
				strchr(g[i], '+') != NULL) {
			VH_LOG(ERR, "%s: group \"%s\": a name of 1..%d "
				"bytes without '+'", vh->path,
				g[i] == NULL ? "" : g[i],
				VSOCK_VHOST_GROUP_LEN - 1);
			return -EINVAL;
		}
		bit = vh_group_bit(vh->sw, g[i]);
		if (bit < 0) {
			VH_LOG(ERR, "%s: group \"%s\": the switch has %d "
				"groups already", vh->path, g[i],
				VH_SWITCH_GROUPS);
			return -EINVAL;
		}
		*mask |= 1ULL << bit;
	}
	return 0;
}

int
vh_switch_join(struct vsock_vhost *vh, const struct vsock_vhost_conf *c)
{
	struct vsock_vhost_switch *sw = c->sw;
	unsigned int i;
	int r;

	vh->sw = NULL;
	if (sw == NULL)
		return 0;
	for (i = 0; i < sw->nb; i++)
		if (sw->members[i]->cid == vh->cid) {
			VH_LOG(ERR, "%s: guest CID %" PRIu64 " is %s's on "
				"the same switch", vh->path, vh->cid,
				sw->members[i]->path);
			return -EEXIST;
		}
	if (sw->nb == VH_SWITCH_MAX) {
		VH_LOG(ERR, "%s: the switch has %d instances already",
			vh->path, VH_SWITCH_MAX);
		return -ENOSPC;
	}
	vh->sw = sw;
	r = vh_groups_mask(vh, c, &vh->group_mask);
	if (r != 0) {
		vh->sw = NULL;
		return r;
	}
	sw->members[sw->nb++] = vh;
	return 0;
}

void
vh_switch_leave(struct vsock_vhost *vh)
{
	struct vsock_vhost_switch *sw = vh->sw;
	unsigned int i;

	if (sw == NULL)
		return;
	for (i = 0; i < sw->nb; i++)
		if (sw->members[i] == vh) {
			sw->members[i] = sw->members[--sw->nb];
			break;
		}
	vh->sw = NULL;
}

uint16_t
vh_switch_room(struct vsock_vhost *vh, uint16_t n)
{
	const struct vsock_vhost_switch *sw = vh->sw;
	unsigned int i;

	if (likely(sw == NULL))
		return n;
	for (i = 0; i < sw->nb; i++) {
		const struct vsock_vhost *o = sw->members[i];
		uint32_t room = VH_FWD_SIZE - vh_fwd_count(o);

		if ((o->running || o == vh) && room < n)
			n = (uint16_t)room;
	}
	if (n == 0)
		vh->st.fwd_wait++;
	return n;
}

/* The sibling of @vh in a common group whose guest is @cid. */
static struct vsock_vhost *
vh_sibling(const struct vsock_vhost *vh, uint64_t cid)
{
	const struct vsock_vhost_switch *sw = vh->sw;
	unsigned int i;

	for (i = 0; i < sw->nb; i++) {
		struct vsock_vhost *o = sw->members[i];

		if (o->cid == cid && o != vh &&
				(o->group_mask & vh->group_mask) != 0)
			return o;
	}
	return NULL;
}

/* Queue for @vh's guest the RST answering its packet @h. */
static void
vh_send_rst(struct vsock_vhost *vh, const struct vsock_hdr *h)
{
	struct vsock_hdr r;
	struct rte_mbuf *m = rte_pktmbuf_alloc(vh->pool);
	void *p = m == NULL ? NULL : rte_pktmbuf_append(m, VSOCK_HDR_LEN);

	if (p == NULL) {
		rte_pktmbuf_free(m);
		vh->st.rx_nombuf++;
		return;
	}
	vsock_hdr_rst_reply(&r, h);
	vsock_hdr_encode(p, &r);
	vh_fwd_push(vh, m);	/* vh_switch_room() kept a place */
	vh->st.fwd_rst++;
}

void
vh_switch_forward(struct vsock_vhost *vh, struct rte_mbuf *m,
		const struct vsock_hdr *h)
{
	struct vsock_vhost *to = vh_sibling(vh, h->dst_cid);

	if (to != NULL && vh_fwd_push(to, m)) {
		vh->st.fwd_pkts++;
		return;
	}
	rte_pktmbuf_free(m);
	if (h->op != VSOCK_OP_RST)
		vh_send_rst(vh, h);
}
