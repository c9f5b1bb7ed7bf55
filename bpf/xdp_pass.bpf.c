// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP_PASS stub for the PEER of a veth that runs electrode's XDP program in native mode: a veth
 * delivers native XDP_TX frames only when its peer has an XDP program too (ELECTRODE.md). The local
 * namespace cluster attaches it to the bridge side of every replica's veth.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int electrode_stub(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
