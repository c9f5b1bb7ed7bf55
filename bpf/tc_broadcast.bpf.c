// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc egress: fan one marked datagram out to every peer.
 *
 * The leader's user space sends ONE copy of a Prepare or Commit with ELECTRODE_FLAG_BROADCAST set
 * (addressed to any follower, so routing and ARP pick this interface). For each configured peer
 * other than this replica, the program rewrites destination MAC, IP and UDP port, marks the copy
 * ELECTRODE_FLAG_CLONE (so it is never broadcast again) and clones it out with
 * bpf_clone_redirect. All peers are served in ONE invocation by a bounded loop: there is no
 * recursion through the hook, so the kernel's transmit recursion limit (8) does not cap the
 * cluster size as it did in the original artifact. The original is then dropped.
 *
 * Checksums are updated incrementally with the kernel's helpers, which handle both a complete
 * checksum and CHECKSUM_PARTIAL (TX offload) correctly.
 *
 * Cluster facts arrive at load time: the read-only globals below are set by the loader from the
 * config, and the peer table is filled by `electrode setup`. Nothing of a cluster is compiled in.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "electrode_wire.h"

/* Set by the loader from the config before load; read-only afterwards (the verifier sees the
 * values as constants). Its own section, so the loader finds it at offset 0. */
const volatile struct electrode_tc_config electrode_cfg SEC(".rodata.cfg") = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ELECTRODE_REPLICAS_MAX);
	__type(key, __u32);
	__type(value, struct electrode_peer);
} el_bcast_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ELECTRODE_BCAST_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} el_bcast_stats SEC(".maps");

#define L3_OFF (sizeof(struct ethhdr))
#define L4_OFF (L3_OFF + sizeof(struct iphdr))
#define MSG_OFF (L4_OFF + sizeof(struct udphdr))
#define IP_CSUM_OFF (L3_OFF + __builtin_offsetof(struct iphdr, check))
#define IP_DST_OFF (L3_OFF + __builtin_offsetof(struct iphdr, daddr))
#define UDP_CSUM_OFF (L4_OFF + __builtin_offsetof(struct udphdr, check))
#define UDP_DPORT_OFF (L4_OFF + __builtin_offsetof(struct udphdr, dest))
/* The 16-bit word of the electrode header holding flags (low byte) and sender (high byte). */
#define FLAGS_WORD_OFF (MSG_OFF + __builtin_offsetof(struct electrode_hdr, flags))

_Static_assert(__builtin_offsetof(struct electrode_hdr, flags) % 2 == 0, "flags word is 16-bit aligned");

static __always_inline void count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&el_bcast_stats, &which);
	if (value)
		*value += 1;
}

/* Returns the flags/sender word when this skb is an electrode datagram asking for broadcast,
 * else -1. Packet pointers are derived here and not kept: helpers below invalidate them. */
static __always_inline int broadcast_request(struct __sk_buff *skb, __u16 *flags_word)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + L3_OFF;
	struct udphdr *udp = data + L4_OFF;
	struct electrode_hdr *hdr = data + MSG_OFF;

	if ((void *)(hdr + 1) > data_end)
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return -1;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or offset: not a whole datagram */
		return -1;
	if (udp->source != bpf_htons(electrode_cfg.port))
		return -1;
	if (hdr->magic != ELECTRODE_MAGIC || hdr->version != ELECTRODE_VERSION || hdr->cluster != electrode_cfg.cluster)
		return -1;
	if (!(hdr->flags & ELECTRODE_FLAG_BROADCAST) || (hdr->flags & ELECTRODE_FLAG_CLONE))
		return -1;
	*flags_word = *(__u16 *)&hdr->flags;
	return 0;
}

SEC("tc")
int electrode_bcast(struct __sk_buff *skb)
{
	__u16 old_word, new_word;
	__u32 old_ip, i;
	__u16 old_port;
	int clones = 0;

	if (broadcast_request(skb, &old_word) < 0) {
		count(ELECTRODE_BCAST_PASSED);
		return TC_ACT_OK;
	}
	count(ELECTRODE_BCAST_MATCHED);

	/* Every copy carries CLONE instead of BROADCAST: a clone re-entering this hook passes. */
	new_word = (old_word & ~(__u16)ELECTRODE_FLAG_BROADCAST) | ELECTRODE_FLAG_CLONE;
	if (bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_word, new_word, BPF_F_MARK_MANGLED_0 | 2) ||
	    bpf_skb_store_bytes(skb, FLAGS_WORD_OFF, &new_word, 2, 0)) {
		count(ELECTRODE_BCAST_CLONE_ERRORS);
		return TC_ACT_SHOT;
	}
	if (bpf_skb_load_bytes(skb, IP_DST_OFF, &old_ip, 4) || bpf_skb_load_bytes(skb, UDP_DPORT_OFF, &old_port, 2)) {
		count(ELECTRODE_BCAST_CLONE_ERRORS);
		return TC_ACT_SHOT;
	}

	for (i = 0; i < ELECTRODE_REPLICAS_MAX; i++) {
		struct electrode_peer *peer;
		__u32 key = i;

		if (i >= electrode_cfg.replica_count)
			break;
		if (i == electrode_cfg.self_index)
			continue;
		peer = bpf_map_lookup_elem(&el_bcast_peers, &key);
		if (!peer || !peer->valid) {
			count(ELECTRODE_BCAST_CLONE_ERRORS);
			continue;
		}
		if (peer->ip != old_ip) {
			bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_ip, peer->ip, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
			bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, peer->ip, 4);
			bpf_skb_store_bytes(skb, IP_DST_OFF, &peer->ip, 4, 0);
			old_ip = peer->ip;
		}
		if (peer->port != old_port) {
			bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_port, peer->port, BPF_F_MARK_MANGLED_0 | 2);
			bpf_skb_store_bytes(skb, UDP_DPORT_OFF, &peer->port, 2, 0);
			old_port = peer->port;
		}
		bpf_skb_store_bytes(skb, __builtin_offsetof(struct ethhdr, h_dest), peer->mac, ETH_ALEN, 0);
		if (bpf_clone_redirect(skb, skb->ifindex, 0) == 0) {
			clones++;
			count(ELECTRODE_BCAST_CLONES);
		} else {
			count(ELECTRODE_BCAST_CLONE_ERRORS);
		}
	}
	/* Every peer got its clone: the original (addressed to one of them) would be a duplicate.
	 * STOLEN, not SHOT: the sender's sendmmsg then counts it as sent instead of failing with
	 * ENOBUFS, which would cost the leader a second syscall per marked send. */
	return TC_ACT_STOLEN;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
