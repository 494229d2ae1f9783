// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relay's kernel fast path: a TC ingress program (attached with a tcx link) that forwards
 * the packets of latched streams without waking the relay's user space.
 *
 * Why TC ingress and not XDP: the relay runs on loopback in the tests and beside the proxy on
 * one host, and XDP in native mode never sees locally generated or loopback traffic (generic
 * XDP does, at a higher cost than TC). TC runs on an sk_buff, where the checksum helpers keep
 * the offload state right (CHECKSUM_PARTIAL on loopback and veth), and where a rewritten
 * packet can either go up the stack (a local peer) or out of a NIC (bpf_redirect). A tcx link
 * (kernel 6.6+) goes away when the relay closes its descriptor, so a crash leaves nothing
 * attached.
 *
 * What it does: an IPv4/UDP packet whose (source address, source port, destination port)
 * matches a flow in `mpx_flows`, and whose payload looks like RTP or RTCP (at least 12 bytes,
 * version 2), leaves with the flow's new source (the relay's other address and port) and
 * destination (the peer), IP and UDP checksums updated incrementally. Everything else (no
 * flow, a stranger, STUN, DTLS, ZRTP, a fragment, IP options, a short packet, a VLAN-tagged
 * one seen on the parent device) goes up to user space unchanged: this program only ever takes packets it is sure of.
 *
 * Where to send: where the peer's own packets come from. Each flow learns the interface and
 * MAC addresses of the packets it matches; a flow forwards once the opposite flow (the peer
 * towards the relay) has seen one, out of that interface to that MAC. No route lookup: the
 * kernel's bpf_fib_lookup refuses to work where IP forwarding is off, which it is on a relay.
 * The cost: a one-way stream (hold) stays in user space, and so does a peer reached by another
 * path than the one its packets arrive by (asymmetric routing); and the packets it forwards to
 * a NIC skip the host's netfilter hooks (taken before prerouting, sent without output and
 * postrouting; they carry the relay's own address and ports, as user space would send them).
 *
 * The key and value layouts are mirrored by `src/relay/kernel/layout.rs`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

/* helper calls by number (linux/bpf.h's enum bpf_func_id) */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
                                   __u64 size) = (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
                                   __u64 flags) = (void *)BPF_FUNC_l4_csum_replace;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from,
                                   __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)BPF_FUNC_skb_pull_data;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;

/* A map definition the loader reads from this object (section "maps"): it creates the map and
 * puts its descriptor into every instruction that refers to the symbol. */
struct mpx_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 flags;
};

struct flow_key {
	__be32 src_addr;   /* the latched source */
	__be16 src_port;
	__be16 relay_port; /* the relay port it sends to */
};

struct flow {
	__be32 new_src_addr; /* the relay's address towards the peer */
	__be32 dst_addr;     /* the peer */
	__be16 new_src_port; /* the relay's port towards the peer */
	__be16 dst_port;
	/* learnt by this program from the flow's own packets (zero when installed) */
	__u32 in_ifindex;    /* the interface they arrive on */
	__u8 in_smac[6];     /* their source MAC: the next hop towards the latched source */
	__u8 in_dmac[6];     /* their destination MAC: ours on that interface */
	__be32 last_ssrc;    /* RTP header of the last packet forwarded: user space judges a */
	__u64 packets;       /* forwarded by this program */
	__u64 bytes;         /* UDP payload bytes, as user space counts them */
	__u64 last_ns;       /* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last one */
	__be16 last_seq;     /* NAT rebinding by whether a new source continues the stream */
	__u16 reserved[3];
};

struct mpx_map_def mpx_flows SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct flow_key),
	.value_size = sizeof(struct flow),
	.max_entries = 65536,
	.flags = 0,
};

char _license[] SEC("license") = "GPL";

#define ETH_LEN sizeof(struct ethhdr)
#define IP_LEN sizeof(struct iphdr)
#define UDP_LEN sizeof(struct udphdr)
#define RTP_MIN 12
#define NEED (ETH_LEN + IP_LEN + UDP_LEN + RTP_MIN)
#define IP_CSUM (ETH_LEN + __builtin_offsetof(struct iphdr, check))
#define IP_SADDR (ETH_LEN + __builtin_offsetof(struct iphdr, saddr))
#define UDP_OFF (ETH_LEN + IP_LEN)
#define UDP_CSUM (UDP_OFF + __builtin_offsetof(struct udphdr, check))

#define IP_MF_OFFSET 0x3fff /* more-fragments flag and fragment offset */
#define LOOPBACK_IFINDEX 1  /* the loopback device, in every network namespace */

/* Passing on lets the next tcx program (if any) and then the stack see the packet. */
#define PASS TC_ACT_UNSPEC

/* Rewrites addresses and ports, checksums first (the helpers read the old values from the
 * arguments, not from the packet). Returns 0 or a negative error. */
INLINE int rewrite(struct __sk_buff *skb, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
                   const struct flow *f)
{
	const __u64 pseudo = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
	if (bpf_l4_csum_replace(skb, UDP_CSUM, saddr, f->new_src_addr, pseudo | 4) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM, daddr, f->dst_addr, pseudo | 4) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM, sport, f->new_src_port, BPF_F_MARK_MANGLED_0 | 2) ||
	    bpf_l4_csum_replace(skb, UDP_CSUM, dport, f->dst_port, BPF_F_MARK_MANGLED_0 | 2) ||
	    bpf_l3_csum_replace(skb, IP_CSUM, saddr, f->new_src_addr, 4) ||
	    bpf_l3_csum_replace(skb, IP_CSUM, daddr, f->dst_addr, 4))
		return -1;
	/* saddr and daddr are adjacent, as are the two ports */
	__be32 addrs[2] = {f->new_src_addr, f->dst_addr};
	__be16 ports[2] = {f->new_src_port, f->dst_port};
	if (bpf_skb_store_bytes(skb, IP_SADDR, addrs, sizeof(addrs), 0) ||
	    bpf_skb_store_bytes(skb, UDP_OFF, ports, sizeof(ports), 0))
		return -1;
	return 0;
}

INLINE int same_mac(const __u8 *a, const __u8 *b)
{
	__u8 diff = 0;
#pragma unroll
	for (int i = 0; i < 6; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

SEC("tc")
int mpx_relay(struct __sk_buff *skb)
{
	/* a VLAN tag held outside the packet would not go out with it */
	if (skb->protocol != __constant_htons(ETH_P_IP) || skb->vlan_present)
		return PASS;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + NEED > end) {
		if (bpf_skb_pull_data(skb, NEED))
			return PASS;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		if (data + NEED > end)
			return PASS;
	}
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_LEN;
	struct udphdr *udp = data + UDP_OFF;
	__u8 *payload = data + UDP_OFF + UDP_LEN;
	if (eth->h_proto != __constant_htons(ETH_P_IP) || ip->version != 4 || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || (ip->frag_off & __constant_htons(IP_MF_OFFSET)))
		return PASS;
	__u16 ulen = __builtin_bswap16(udp->len);
	if (ulen < UDP_LEN + RTP_MIN || (payload[0] & 0xc0) != 0x80)
		return PASS; /* too short for RTP, or not RTP/RTCP version 2 (STUN, DTLS, ZRTP) */

	struct flow_key key = {
		.src_addr = ip->saddr,
		.src_port = udp->source,
		.relay_port = udp->dest,
	};
	struct flow *f = bpf_map_lookup_elem(&mpx_flows, &key);
	if (!f)
		return PASS;

	/* Learn where the latched source is: its packets' interface and MAC addresses. The
	 * opposite flow sends there. Written only when it changes (no cache line bouncing). */
	if (f->in_ifindex != skb->ingress_ifindex || !same_mac(f->in_smac, eth->h_source) ||
	    !same_mac(f->in_dmac, eth->h_dest)) {
		__builtin_memcpy(f->in_smac, eth->h_source, 6);
		__builtin_memcpy(f->in_dmac, eth->h_dest, 6);
		f->in_ifindex = skb->ingress_ifindex;
	}

	/* Where does the peer live? Where its own packets to the relay come from: the opposite
	 * flow, once it has seen one. Until then, and where that path cannot be used from here,
	 * user space forwards (the packet is still unchanged). */
	struct flow_key back_key = {
		.src_addr = f->dst_addr,
		.src_port = f->dst_port,
		.relay_port = f->new_src_port,
	};
	struct flow *back = bpf_map_lookup_elem(&mpx_flows, &back_key);
	if (!back)
		return PASS;
	__u32 out = back->in_ifindex;
	if (out == 0)
		return PASS;
	/* a local peer (loopback): the packet goes up the stack with the route it was sent with;
	 * from a NIC the stack would drop the relay's own address as a martian source */
	int local = out == LOOPBACK_IFINDEX;
	if (local && skb->ingress_ifindex != LOOPBACK_IFINDEX)
		return PASS;
	__be16 seq = *(__be16 *)(payload + 2);
	__be32 ssrc = *(__be32 *)(payload + 8);
	__u8 macs[12];
	__builtin_memcpy(macs, back->in_smac, 6);
	__builtin_memcpy(macs + 6, back->in_dmac, 6);

	if (rewrite(skb, ip->saddr, ip->daddr, udp->source, udp->dest, f))
		return TC_ACT_SHOT; /* half rewritten: it must not reach anyone */

	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, ulen - UDP_LEN);
	f->last_ns = bpf_ktime_get_ns();
	f->last_seq = seq;
	f->last_ssrc = ssrc;

	if (local)
		return TC_ACT_OK;
	/* out of the peer's interface, to the MAC its packets come from */
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(out, 0);
}
