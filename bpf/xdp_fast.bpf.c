// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP ingress: Electrode's quorum prune (leader) and fast reply (followers), in one program.
 *
 * Quorum prune. The leader counts PrepareOk per op in a table of slots (slot = op mod
 * ELECTRODE_QUORUM_SLOTS, tagged with view and op, a bitset of the replicas that acked). Acks before
 * the quorum, a replica's first ack after it, and repeated ones before it are dropped; the one ack
 * that completes the quorum is passed up marked ELECTRODE_FLAG_QUORUM, and user space commits on it
 * without counting. That ack can still be lost after XDP_PASS (a full socket buffer), and then the
 * op would commit only when a later op's quorum arrives, never if no later op comes: so a repeated
 * ack after the quorum (followers re-ack while the leader's heartbeat shows the op uncommitted)
 * goes up marked again. In steady state nobody re-acks: about one ack per op still reaches user
 * space. Acks it cannot place (another view, a slot already reused by a later op, not the leader)
 * go up unmarked: user space counts those itself, so it stays correct without pruning.
 *
 * Fast reply. A follower that is normal in the view of a Prepare from that view's leader, whose
 * first op is exactly the next one after its log, copies the datagram into a ring buffer record for
 * user space and turns the packet itself into the PrepareOk (XDP_TX). It acks only a Prepare that
 * user space decodes: the checks of src/wire/codec.ts (lengths, count, every entry's framing, u64
 * ranges) are made here first. Anything else goes up.
 *
 * Kernel state (status, view, leader, last op, which fast paths the process uses) is written by the replica under the value's spin
 * lock on every change, before it acts in the new state. The fast path reserves its ring record
 * BEFORE it reads that state, so a replica that has just written a new state and then drains the
 * ring until nothing is reserved has seen every Prepare acked under the old state (src/core: fence).
 * The cursor (the last op acked here, per view) lets consecutive Prepares be acked before user space
 * has caught up; user space tells its own log end in last_op.
 *
 * The program runs only while a replica process holds its XDP link (setup loads and pins it, the
 * replica attaches it), so the kernel of a dead replica never acks. Each process draws an epoch:
 * the cursor and quorum slots of an earlier process do not count.
 *
 * Every verdict is counted in a per-CPU array. Cluster facts arrive at load time (.rodata.cfg) and
 * in the peer table filled by setup; nothing of a cluster is compiled in.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "electrode_wire.h"

const volatile struct electrode_xdp_config electrode_cfg SEC(".rodata.cfg") = {};

struct state_value {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct electrode_kstate s;
};

struct cursor_value {
	struct bpf_spin_lock lock;
	__u32 view;
	__u32 epoch;
	__u32 pad;
	__u64 op;
};

struct quorum_slot {
	struct bpf_spin_lock lock;
	__u32 view;
	__u32 epoch;
	__u32 acked; /* bit i: replica i acked (epoch, view, op) */
	__u64 op;
	__u32 done; /* the quorum-completing ack went up */
	__u32 pad;
};

_Static_assert(ELECTRODE_REPLICAS_MAX <= 32, "acked bitset is 32 bits");
_Static_assert((ELECTRODE_QUORUM_SLOTS & (ELECTRODE_QUORUM_SLOTS - 1)) == 0, "slots: a power of two");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELECTRODE_REPLICAS_MAX);
	__type(key, __u32);
	__type(value, struct electrode_peer);
} el_xdp_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct state_value);
} el_xdp_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cursor_value);
} el_xdp_cursor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELECTRODE_QUORUM_SLOTS);
	__type(key, __u32);
	__type(value, struct quorum_slot);
} el_xdp_quorum SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ELECTRODE_FAST_RING_BYTES);
} el_xdp_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELECTRODE_XDP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} el_xdp_stats SEC(".maps");

#define L3_OFF (sizeof(struct ethhdr))
#define L4_OFF (L3_OFF + sizeof(struct iphdr))
#define MSG_OFF (L4_OFF + sizeof(struct udphdr))
#define ACK_UDP_BYTES (sizeof(struct udphdr) + sizeof(struct electrode_hdr))

static __always_inline int count(__u32 which, int verdict)
{
	__u64 *value = bpf_map_lookup_elem(&el_xdp_stats, &which);
	if (value)
		*value += 1;
	return verdict;
}

struct packet {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	struct electrode_hdr *hdr;
	void *end;
};

/* An electrode datagram of this cluster to this replica's port, whole (no IP options or fragments). */
static __always_inline int parse(struct xdp_md *ctx, struct packet *p)
{
	void *data = (void *)(long)ctx->data;

	p->end = (void *)(long)ctx->data_end;
	p->eth = data;
	p->ip = data + L3_OFF;
	p->udp = data + L4_OFF;
	p->hdr = data + MSG_OFF;
	if ((void *)(p->hdr + 1) > p->end)
		return -1;
	if (p->eth->h_proto != bpf_htons(ETH_P_IP) || p->ip->ihl != 5 || p->ip->protocol != IPPROTO_UDP)
		return -1;
	if (p->ip->frag_off & bpf_htons(0x3fff))
		return -1;
	if (p->udp->dest != bpf_htons(electrode_cfg.port))
		return -1;
	if (p->hdr->magic != ELECTRODE_MAGIC || p->hdr->version != ELECTRODE_VERSION || p->hdr->cluster != electrode_cfg.cluster)
		return -1;
	return 0;
}

/* Does the datagram come from the configured address of the replica it names as sender? */
static __always_inline int from_peer(struct packet *p)
{
	__u32 key = p->hdr->sender;
	struct electrode_peer *peer;

	if (key >= electrode_cfg.replica_count || key == electrode_cfg.self_index)
		return 0;
	peer = bpf_map_lookup_elem(&el_xdp_peers, &key);
	return peer && peer->valid && peer->ip == p->ip->saddr && peer->port == p->udp->source;
}

static __always_inline int read_state(struct electrode_kstate *out)
{
	__u32 key = 0;
	struct state_value *v = bpf_map_lookup_elem(&el_xdp_state, &key);

	if (!v)
		return -1;
	bpf_spin_lock(&v->lock);
	out->status = v->s.status;
	out->view = v->s.view;
	out->leader = v->s.leader;
	out->epoch = v->s.epoch;
	out->last_op = v->s.last_op;
	out->enable = v->s.enable;
	bpf_spin_unlock(&v->lock);
	return 0;
}

/* Whether the replica holding the program enabled fast reply, read without the lock. A stale
 * "off" only passes a Prepare up, which is always correct; "on" is checked again under the lock
 * once the record is reserved. It saves a process without fast reply (--opt without it) a copy
 * of every Prepare into a ring nobody drains. */
static __always_inline int fast_reply_enabled(void)
{
	__u32 key = 0;
	struct state_value *v = bpf_map_lookup_elem(&el_xdp_state, &key);

	return v && (*(volatile __u32 *)&v->s.enable & ELECTRODE_ENABLE_FAST_REPLY);
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u32 popcount32(__u32 x)
{
	x = x - ((x >> 1) & 0x55555555);
	x = (x & 0x33333333) + ((x >> 2) & 0x33333333);
	x = (x + (x >> 4)) & 0x0f0f0f0f;
	return (x * 0x01010101) >> 24;
}

/* The UDP checksum of an ack (header-only message: UDP header + electrode header), in full. */
static __always_inline __u16 ack_udp_csum(struct iphdr *ip, struct udphdr *udp)
{
	__u32 sum = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
		    bpf_htons(IPPROTO_UDP) + bpf_htons(ACK_UDP_BYTES);
	__u16 *word = (__u16 *)udp;
	int i;

#pragma unroll
	for (i = 0; i < (int)(ACK_UDP_BYTES / 2); i++)
		sum += word[i];
	return csum_fold(sum) ?: 0xffff;
}

/* ---- Quorum prune (leader). ---- */

enum prune_verdict { PRUNE_EARLY, PRUNE_LATE, PRUNE_DUPLICATE, PRUNE_QUORUM, PRUNE_QUORUM_REPEAT, PRUNE_EVICTED };

static __always_inline int count_ack(struct electrode_kstate *st, __u64 op, __u32 sender)
{
	__u32 view = st->view, epoch = st->epoch;
	__u32 key = (__u32)op & (ELECTRODE_QUORUM_SLOTS - 1);
	struct quorum_slot *slot = bpf_map_lookup_elem(&el_xdp_quorum, &key);
	__u32 bit = 1u << (sender & 31);
	int verdict;

	if (!slot)
		return PRUNE_EVICTED;
	bpf_spin_lock(&slot->lock);
	if (slot->epoch != epoch || slot->view != view || slot->op != op) {
		if (slot->epoch == epoch && slot->view == view && slot->op > op) {
			bpf_spin_unlock(&slot->lock);
			return PRUNE_EVICTED;
		}
		slot->epoch = epoch;
		slot->view = view;
		slot->op = op;
		slot->acked = 0;
		slot->done = 0;
	}
	if (slot->acked & bit) {
		/* After the quorum a repeat is a re-ack: the marked ack may never have reached user space. */
		verdict = slot->done ? PRUNE_QUORUM_REPEAT : PRUNE_DUPLICATE;
	} else {
		slot->acked |= bit;
		if (slot->done) {
			verdict = PRUNE_LATE;
		} else if (popcount32(slot->acked) >= electrode_cfg.quorum) {
			slot->done = 1;
			verdict = PRUNE_QUORUM;
		} else {
			verdict = PRUNE_EARLY;
		}
	}
	bpf_spin_unlock(&slot->lock);
	return verdict;
}

static __always_inline int quorum_prune(struct packet *p)
{
	struct electrode_kstate st;
	int verdict;

	if (p->udp->len != bpf_htons(ACK_UDP_BYTES) || p->hdr->body_len != 0)
		return count(ELECTRODE_XDP_PASS_OTHER, XDP_PASS); /* not a well-formed ack: user space judges */
	if (read_state(&st) < 0 || !(st.enable & ELECTRODE_ENABLE_PRUNE) || st.status != ELECTRODE_STATUS_NORMAL ||
	    st.leader != electrode_cfg.self_index || p->hdr->view != st.view)
		return count(ELECTRODE_XDP_PASS_STATE, XDP_PASS);
	verdict = count_ack(&st, p->hdr->op, p->hdr->sender);
	switch (verdict) {
	case PRUNE_EARLY:
		return count(ELECTRODE_XDP_PRUNE_EARLY, XDP_DROP);
	case PRUNE_LATE:
		return count(ELECTRODE_XDP_PRUNE_LATE, XDP_DROP);
	case PRUNE_DUPLICATE:
		return count(ELECTRODE_XDP_PRUNE_DUPLICATE, XDP_DROP);
	case PRUNE_EVICTED:
		return count(ELECTRODE_XDP_PASS_EVICTED, XDP_PASS);
	}
	/* Mark it and checksum it afresh (an ack is header-only, so that is 40 bytes; an incremental
	 * update would be wrong for an ack whose checksum the sender left to offload). */
	p->hdr->flags |= ELECTRODE_FLAG_QUORUM;
	p->udp->check = 0;
	p->udp->check = ack_udp_csum(p->ip, p->udp);
	return count(verdict == PRUNE_QUORUM_REPEAT ? ELECTRODE_XDP_PASS_QUORUM_REPEAT : ELECTRODE_XDP_PASS_QUORUM, XDP_PASS);
}

/* ---- Fast reply (followers). ---- */

#define U64_IN_RANGE(v) (((__u64)(v) >> 32) <= ELECTRODE_U64_HIGH_WORD_MAX)

/* What src/wire/codec.ts requires of a Prepare's lengths and header, checked in the packet before
 * anything is reserved: the IP length agrees with the UDP length (which is what the replica would
 * read: `len` bytes of message), body_len fills it exactly, 1 <= count <= op (and no more entries
 * than fit a datagram), op and commit within u64ValueMax. parse() checked magic, version and
 * cluster, from_peer() the sender; the entries are checked once copied (prepare_entries_valid). */
static __always_inline int prepare_header_valid(struct packet *p, struct electrode_prepare_body *body, __u32 len)
{
	struct electrode_hdr *h = p->hdr;

	if (p->ip->tot_len != bpf_htons(sizeof(struct iphdr) + sizeof(struct udphdr) + len))
		return 0;
	if (h->body_len != len - sizeof(struct electrode_hdr))
		return 0;
	if (!U64_IN_RANGE(h->op) || !U64_IN_RANGE(h->commit))
		return 0;
	return body->count != 0 && body->count <= h->op && body->count <= ELECTRODE_PREPARE_ENTRIES_MAX;
}

/* The entries of the Prepare copied into rec->data (`len` bytes), read the way the codec reads
 * them: `entries` heads, each inside the datagram with its client id and request number within
 * u64ValueMax, each op inside the datagram, the last one ending exactly where the datagram ends.
 * Bounded: a datagram holds at most ELECTRODE_PREPARE_ENTRIES_MAX entries (prepare_header_valid). */
static __always_inline int prepare_entries_valid(struct electrode_fast_record *rec, __u32 len, __u32 entries)
{
	__u32 pos = sizeof(struct electrode_hdr) + sizeof(struct electrode_prepare_body);
	struct electrode_entry e;
	__u32 i;

	for (i = 0; i < ELECTRODE_PREPARE_ENTRIES_MAX; i++) {
		if (i == entries)
			break;
		/* The constant bound is for the verifier; the one against len is the codec's. */
		if (pos > ELECTRODE_DATAGRAM_BYTES_MAX - sizeof(e) || pos + sizeof(e) > len)
			return 0;
		__builtin_memcpy(&e, rec->data + pos, sizeof(e));
		if (!U64_IN_RANGE(e.client_id) || !U64_IN_RANGE(e.request_num))
			return 0;
		pos += sizeof(e) + e.len;
		if (pos > len)
			return 0;
	}
	return i == entries && pos == len;
}

/* Claims ops first..op for the fast path when they extend what this replica holds in its view. */
static __always_inline int claim(struct electrode_kstate *st, __u64 first, __u64 op)
{
	__u32 key = 0;
	struct cursor_value *c = bpf_map_lookup_elem(&el_xdp_cursor, &key);
	__u64 held;
	int ok;

	if (!c)
		return 0;
	bpf_spin_lock(&c->lock);
	held = (c->epoch == st->epoch && c->view == st->view && c->op > st->last_op) ? c->op : st->last_op;
	ok = first == held + 1;
	if (ok) {
		c->epoch = st->epoch;
		c->view = st->view;
		c->op = op;
	}
	bpf_spin_unlock(&c->lock);
	return ok;
}

/* Turns the Prepare in the packet into this replica's PrepareOk for (view, op), back to the sender. */
static __always_inline int reply_prepare_ok(struct xdp_md *ctx, __u32 view, __u64 op)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + L3_OFF;
	struct udphdr *udp = data + L4_OFF;
	struct electrode_hdr *hdr = data + MSG_OFF;
	__u8 mac[ETH_ALEN];
	__u32 addr, sum = 0;
	__u16 port, *word;
	int i;

	if ((void *)(hdr + 1) > end)
		return XDP_ABORTED;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	ip->tot_len = bpf_htons(sizeof(struct iphdr) + ACK_UDP_BYTES);
	ip->ttl = 64;
	ip->check = 0;
	word = (__u16 *)ip;
#pragma unroll
	for (i = 0; i < (int)(sizeof(struct iphdr) / 2); i++)
		sum += word[i];
	ip->check = csum_fold(sum);

	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->len = bpf_htons(ACK_UDP_BYTES);
	udp->check = 0;
	hdr->type = ELECTRODE_MSG_PREPARE_OK;
	hdr->flags = 0;
	hdr->sender = electrode_cfg.self_index;
	hdr->body_len = 0;
	hdr->view = view;
	hdr->op = op;
	hdr->commit = 0;
	udp->check = ack_udp_csum(ip, udp);

	if (bpf_xdp_adjust_tail(ctx, (int)(MSG_OFF + sizeof(struct electrode_hdr)) - (int)(end - data)))
		return XDP_ABORTED;
	return XDP_TX;
}

static __always_inline int fast_reply(struct xdp_md *ctx, struct packet *p)
{
	struct electrode_prepare_body *body = (void *)(p->hdr + 1);
	struct electrode_fast_record *rec;
	struct electrode_kstate st;
	__u32 udp_len, len, view, entries;
	__u64 op, first;

	if ((void *)(body + 1) > p->end)
		return count(ELECTRODE_XDP_FAST_PASS_INVALID, XDP_PASS);
	udp_len = bpf_ntohs(p->udp->len);
	if (udp_len < sizeof(struct udphdr) + sizeof(struct electrode_hdr) + sizeof(*body))
		return count(ELECTRODE_XDP_FAST_PASS_INVALID, XDP_PASS);
	len = udp_len - sizeof(struct udphdr);
	if (len > ELECTRODE_DATAGRAM_BYTES_MAX)
		return count(ELECTRODE_XDP_FAST_PASS_TOO_BIG, XDP_PASS);
	if (!prepare_header_valid(p, body, len))
		return count(ELECTRODE_XDP_FAST_PASS_INVALID, XDP_PASS);
	op = p->hdr->op;
	view = p->hdr->view;
	entries = body->count;
	first = op - entries + 1;
	if (!fast_reply_enabled())
		return count(ELECTRODE_XDP_FAST_PASS_STATE, XDP_PASS);

	/* Reserve before reading the state: see the file comment (the fence). */
	rec = bpf_ringbuf_reserve(&el_xdp_ring, sizeof(*rec), 0);
	if (!rec)
		return count(ELECTRODE_XDP_FAST_PASS_RING_FULL, XDP_PASS);
	/* Fails when the UDP length runs beyond the packet. */
	if (bpf_xdp_load_bytes(ctx, MSG_OFF, rec->data, len) || !prepare_entries_valid(rec, len, entries)) {
		bpf_ringbuf_discard(rec, 0);
		return count(ELECTRODE_XDP_FAST_PASS_INVALID, XDP_PASS);
	}
	if (read_state(&st) < 0 || !(st.enable & ELECTRODE_ENABLE_FAST_REPLY) || st.status != ELECTRODE_STATUS_NORMAL ||
	    st.leader == electrode_cfg.self_index || p->hdr->sender != st.leader || view != st.view) {
		bpf_ringbuf_discard(rec, 0);
		return count(ELECTRODE_XDP_FAST_PASS_STATE, XDP_PASS);
	}
	if (!claim(&st, first, op)) {
		bpf_ringbuf_discard(rec, 0);
		return count(ELECTRODE_XDP_FAST_PASS_NOT_NEXT, XDP_PASS);
	}
	rec->len = len;
	rec->pad = 0;
	/* No wakeup: the ack already left, so user space is off the critical path and takes the
	 * entries when it next runs (at the latest on its next tick), in bulk. */
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	count(ELECTRODE_XDP_FAST_ACKED, 0);
	return reply_prepare_ok(ctx, view, op);
}

SEC("xdp")
int electrode_xdp(struct xdp_md *ctx)
{
	struct packet p;

	if (parse(ctx, &p) < 0)
		return count(ELECTRODE_XDP_NOT_OURS, XDP_PASS);
	if (p.hdr->flags & ELECTRODE_FLAG_QUORUM) /* only this program may set it */
		return count(ELECTRODE_XDP_FOREIGN, XDP_DROP);
	if (p.hdr->type == ELECTRODE_MSG_PREPARE_OK && electrode_cfg.prune) {
		if (!from_peer(&p))
			return count(ELECTRODE_XDP_FOREIGN, XDP_PASS);
		return quorum_prune(&p);
	}
	if (p.hdr->type == ELECTRODE_MSG_PREPARE && electrode_cfg.fast_reply) {
		if (!from_peer(&p))
			return count(ELECTRODE_XDP_FOREIGN, XDP_PASS);
		return fast_reply(ctx, &p);
	}
	return count(ELECTRODE_XDP_PASS_OTHER, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
