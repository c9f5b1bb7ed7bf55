// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test only (never in the electrode executable): random loss and duplication of IPv4 UDP frames
 * on a tc egress hook, for the nemesis of the local namespace cluster (src/local/chaos.ts).
 *
 * It is attached on the bridge side of each replica's veth (egress there = everything on its way
 * INTO that replica), so it sees every frame whatever sent it: user space, the leader's tc
 * broadcast clones, and the followers' XDP_TX fast replies, which never pass their sender's own
 * tc egress. Parameters per interface (by ifindex) sit in a hash map the test updates at run time;
 * an interface without an entry passes everything.
 *
 * A duplicate is made with bpf_clone_redirect to the same device's egress. It re-enters this hook
 * carrying chaos_mark in skb->mark, which tells it to pass (unmarked) without being judged again.
 * Verdicts return TC_ACT_UNSPEC, not TC_ACT_OK, so other filters on the hook still run.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Probabilities in parts per million. */
struct chaos_params {
	__u32 drop_ppm;
	__u32 dup_ppm;
	/* Counters (this interface), updated atomically. */
	__u64 seen;
	__u64 dropped;
	__u64 duplicated;
	__u64 dup_errors;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct chaos_params);
} chaos_params SEC(".maps");

#define CHAOS_MARK 0xc4a0d0b1u
#define PPM 1000000u

SEC("tc")
int chaos_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct chaos_params *p;
	__u32 key = skb->ifindex;

	if (skb->mark == CHAOS_MARK) {
		skb->mark = 0; /* our own duplicate: let it go as it is */
		return TC_ACT_UNSPEC;
	}
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC; /* ARP and the rest: never touched */
	p = bpf_map_lookup_elem(&chaos_params, &key);
	if (!p)
		return TC_ACT_UNSPEC;
	__sync_fetch_and_add(&p->seen, 1);
	if (p->drop_ppm && bpf_get_prandom_u32() % PPM < p->drop_ppm) {
		__sync_fetch_and_add(&p->dropped, 1);
		return TC_ACT_SHOT;
	}
	if (p->dup_ppm && bpf_get_prandom_u32() % PPM < p->dup_ppm) {
		__u32 mark = skb->mark;

		skb->mark = CHAOS_MARK;
		if (bpf_clone_redirect(skb, skb->ifindex, 0) == 0)
			__sync_fetch_and_add(&p->duplicated, 1);
		else
			__sync_fetch_and_add(&p->dup_errors, 1);
		skb->mark = mark;
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
