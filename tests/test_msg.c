/* SPDX-License-Identifier: MIT */
/*
 * Messages (rmc_send / rmc_recv, sonuma_msg.h) against a real rmcd, each
 * node an application of its own (a forked child):  ping-pong with the
 * data checked for sizes up to the maximum; three senders to one receiver,
 * every message once and in order per sender, round-robin between
 * backlogged senders; a slow receiver never loses a message, and a
 * non-blocking sender sees -EAGAIN exactly when its credits are gone;
 * oversized messages; a receiver that is not there, goes away or comes
 * back; a sender that comes back; bad arguments; the timing model's
 * latency as a lower bound; and sonuma-bench's ping-pong mode.
 */
#include "h_app.h"
#include "sonuma_msg.h"

#define NODES 4
#define CTX_ID 1
#define MAX_MSG 4000 /* not a multiple of 8: padding is exercised */
#define TIMEOUT_MS 20000

/* Context 1 holds the message areas; max_transfer bounds the slot size. */
#define CONF                                                                 \
	"cluster = { nodes = 4; contexts = [64, 64]; max_transfer = 8192;\n" \
	"            lock_memory = false; };\n"

H_RMCD_SUITE(msg, NODES, CONF, .timeout = 150);

/* ---- one node's application --------------------------------------------- */

struct node {
	struct h_app a; /* a.ctx: the message context, context CTX_ID */
	uint64_t lbuf_len, ctx_len;
	struct rmc_msg_ep *ep;
};

static struct rmc_msg_params params(uint32_t slots)
{
	struct rmc_msg_params p = { .ctx_id = CTX_ID,
				    .ctx_offset = 0,
				    .slots = slots,
				    .max_msg = MAX_MSG,
				    .timeout_ms = TIMEOUT_MS };
	return p;
}

/* Attaches to node nid: a queue pair, a local buffer and a mapping of the
 * message context large enough for p (n and p's descriptors are filled). */
static int node_attach(struct node *n, unsigned nid, struct rmc_msg_params *p)
{
	int64_t lb = rmc_msg_lbuff_size(p, NODES), area = rmc_msg_area_size(p, NODES);
	int r;

	memset(n, 0, sizeof(*n));
	CHILD_CHECK(lb > 0 && area > 0, "sizes: %lld %lld", (long long)lb, (long long)area);
	uint32_t lpages = (uint32_t)((lb + PAGE_SIZE - 1) / PAGE_SIZE);
	uint32_t cpages = (uint32_t)((p->ctx_offset + (uint64_t)area + PAGE_SIZE - 1) / PAGE_SIZE);
	if (h_app_attach(&n->a, nid, lpages, 0))
		return 1;
	CHILD_CHECK((r = kal_reg_ctx_id(n->a.fd, CTX_ID, &n->a.ctx, cpages)) == 0,
		    "kal_reg_ctx_id(%u pages): %s", cpages, strerror(-r));
	n->lbuf_len = n->a.lbuf_size;
	n->ctx_len = (uint64_t)cpages * PAGE_SIZE;
	p->fd = n->a.fd;
	p->wq = n->a.wq;
	p->cq = n->a.cq;
	p->lbuff = n->a.lbuf;
	p->lbuff_len = n->lbuf_len;
	p->ctx = n->a.ctx;
	p->ctx_len = n->ctx_len;
	return 0;
}

/* Attaches and creates the endpoint. */
static int node_open(struct node *n, unsigned nid, struct rmc_msg_params p)
{
	int r;

	if (node_attach(n, nid, &p))
		return 1;
	CHILD_CHECK((r = rmc_msg_init(&n->ep, &p)) == 0, "rmc_msg_init: %s", strerror(-r));
	return 0;
}

/* Connects to dst, which may not have its endpoint yet (up to 10 s). */
static int connect_retry(struct node *n, int dst)
{
	uint64_t end = h_now_ms() + 10000;
	int r;

	while ((r = rmc_msg_connect(n->ep, dst)) == -ECONNREFUSED && h_now_ms() < end)
		h_sleep_ms(1);
	CHILD_CHECK(r == 0, "connect to node %d: %s", dst, strerror(-r));
	return 0;
}

static inline uint8_t pat(uint64_t seed, uint64_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + (i >> 8) + 1);
}

static void fill(uint8_t *b, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seed, i);
}

/* Index of the first wrong byte, or -1. */
static long check(const uint8_t *b, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat(seed, i))
			return (long)i;
	return -1;
}

/* Sends without waiting, retrying on -EAGAIN (bounded). */
static int send_nb(struct node *n, int dst, const void *buf, size_t len)
{
	uint64_t end = h_now_ms() + TIMEOUT_MS;
	int r;

	while ((r = rmc_send(n->ep, dst, buf, len, RMC_MSG_DONTWAIT)) == -EAGAIN) {
		if (h_now_ms() > end)
			return -ETIMEDOUT;
		rmc_msg_progress(n->ep);
	}
	return r;
}

/* Shared between the test and its children (h_shared). */
struct shared {
	struct h_barrier bar;
	int fail;
	uint64_t v[64];
	uint64_t t[2][512]; /* timing test: send and receive TSCs */
	double tsc_hz;
};

static struct shared *new_shared(uint32_t parties)
{
	struct shared *s = h_shared(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->bar.n = parties;
	return s;
}

static int bar(struct shared *s)
{
	int r = h_barrier_wait(&s->bar, 60000);
	CHILD_CHECK(r == 0, "barrier: a sibling is gone");
	return 0;
}

static struct shared *S;

/* a(arg) and b(NULL), each in a child of its own, meeting in a fresh S;
 * both must pass within ms. */
static void run_two(int (*a)(void *), void *arg, int (*b)(void *), unsigned ms)
{
	pid_t p[2];

	S = new_shared(2);
	p[0] = h_fork(a, arg);
	p[1] = h_fork(b, NULL);
	h_join(p, 2, ms, "node");
}

/* node_open, then S's barrier: every sibling's endpoint exists. */
static int node_meet(struct node *n, unsigned nid, struct rmc_msg_params p)
{
	return node_open(n, nid, p) || bar(S);
}

/* ---- ping-pong ------------------------------------------------------------ */

static const size_t pp_sizes[] = { 0, 1, 7, 8, 9, 63, 64, 65, 1000, 2048, MAX_MSG - 1, MAX_MSG };
#define PP_SIZES (sizeof(pp_sizes) / sizeof(pp_sizes[0]))
#define PP_REPS 20

static int echo_server(void *arg)
{
	unsigned total = (unsigned)(uintptr_t)arg;
	static uint8_t buf[MAX_MSG];
	struct node n;

	if (node_meet(&n, 1, params(8)))
		return 1;
	for (unsigned i = 0; i < total; i++) {
		int src = RMC_MSG_ANY;
		int len = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		CHILD_CHECK(len >= 0, "echo: recv %u: %s", i, strerror(-len));
		CHILD_CHECK(src == 0, "echo: message from node %d", src);
		/* Half of the replies without waiting. */
		int r = i % 2 ? send_nb(&n, src, buf, (size_t)len) :
				rmc_send(n.ep, src, buf, (size_t)len, 0);
		CHILD_CHECK(r == 0, "echo: send %u: %s", i, strerror(-r));
	}
	CHILD_CHECK(rmc_msg_flush(n.ep) == 0, "echo: flush");
	CHILD_CHECK(rmc_msg_fini(n.ep) == 0, "echo: fini");
	return 0;
}

static int pinger(void *arg)
{
	static uint8_t out[MAX_MSG], in[MAX_MSG + 64];
	struct node n;
	struct rmc_msg_info info;
	(void)arg;

	if (node_open(&n, 0, params(8)))
		return 1;
	CHILD_CHECK(rmc_msg_get_info(n.ep, &info) == 0, "info");
	CHILD_CHECK(info.max_msg == MAX_MSG && info.nid == 0 && info.nodes == NODES, "info");
	if (bar(S))
		return 1;
	if (connect_retry(&n, 1))
		return 1;
	for (unsigned s = 0; s < PP_SIZES; s++)
		for (unsigned k = 0; k < PP_REPS; k++) {
			size_t len = pp_sizes[s];
			uint64_t seed = s * 1000 + k;
			fill(out, len, seed);
			int r = k % 2 ? send_nb(&n, 1, out, len) : rmc_send(n.ep, 1, out, len, 0);
			CHILD_CHECK(r == 0, "send %zu B: %s", len, strerror(-r));
			memset(in, 0xee, sizeof(in));
			int src = 1;
			int got = rmc_recv(n.ep, &src, in, sizeof(in), 0);
			CHILD_CHECK(got == (int)len, "size %zu: got %d (%s)", len, got,
				    got < 0 ? strerror(-got) : "wrong length");
			CHILD_CHECK(src == 1, "from node %d", src);
			long bad = check(in, len, seed);
			CHILD_CHECK(bad < 0, "size %zu rep %u: byte %ld wrong", len, k, bad);
			CHILD_CHECK(in[len] == 0xee, "size %zu: wrote past the message", len);
		}
	CHILD_CHECK(rmc_msg_fini(n.ep) == 0, "fini");
	return 0;
}

Test(msg, pingpong_two_nodes_all_sizes_data_checked)
{
	run_two(echo_server, (void *)(uintptr_t)(PP_SIZES * PP_REPS), pinger, 90000);
}

/* ---- many to one ------------------------------------------------------------ */

#define M21_MSGS 400
#define M21_SLOTS 4

struct m21 {
	uint32_t sender, seq;
	uint64_t seed;
};

static size_t m21_len(uint32_t sender, uint32_t seq)
{
	return sizeof(struct m21) + (seq * 37 + sender * 11) % 600;
}

static int m21_sender(void *arg)
{
	unsigned nid = (unsigned)(uintptr_t)arg;
	static uint8_t buf[MAX_MSG];
	struct node n;
	uint32_t seq = 0;
	int r;

	if (node_meet(&n, nid, params(M21_SLOTS))) /* every endpoint exists */
		return 1;
	/* Phase 1: fill the ring at node 0, which does not receive yet. */
	for (;;) {
		struct m21 h = { nid, seq, (uint64_t)nid << 32 | seq };
		size_t len = m21_len(nid, seq);
		memcpy(buf, &h, sizeof(h));
		fill(buf + sizeof(h), len - sizeof(h), h.seed);
		r = rmc_send(n.ep, 0, buf, len, RMC_MSG_DONTWAIT);
		if (r == -EAGAIN)
			break;
		CHILD_CHECK(r == 0, "send %u: %s", seq, strerror(-r));
		seq++;
	}
	CHILD_CHECK(seq == M21_SLOTS, "node %u: %u sends before -EAGAIN, expected %d", nid, seq,
		    M21_SLOTS);
	/* The writes are in node 0's memory before it starts receiving. */
	CHILD_CHECK((r = rmc_msg_flush(n.ep)) == 0, "flush: %s", strerror(-r));
	if (bar(S) || bar(S)) /* the receiver takes one round of backlogs */
		return 1;
	/* Phase 2: the rest, half blocking and half not. */
	for (; seq < M21_MSGS; seq++) {
		struct m21 h = { nid, seq, (uint64_t)nid << 32 | seq };
		size_t len = m21_len(nid, seq);
		memcpy(buf, &h, sizeof(h));
		fill(buf + sizeof(h), len - sizeof(h), h.seed);
		r = seq % 2 ? send_nb(&n, 0, buf, len) : rmc_send(n.ep, 0, buf, len, 0);
		CHILD_CHECK(r == 0, "send %u: %s", seq, strerror(-r));
	}
	CHILD_CHECK((r = rmc_msg_flush(n.ep)) == 0, "flush: %s", strerror(-r));
	return bar(S); /* stay until the receiver is done */
}

static int m21_receiver(void *arg)
{
	static uint8_t buf[MAX_MSG];
	uint32_t next[NODES] = { 0 };
	struct node n;
	(void)arg;

	if (node_meet(&n, 0, params(M21_SLOTS)) || bar(S)) /* every ring at node 0 is full */
		return 1;
	for (unsigned i = 0; i < 3 * M21_MSGS; i++) {
		int src = RMC_MSG_ANY;
		int len = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		CHILD_CHECK(len >= 0, "recv %u: %s", i, strerror(-len));
		CHILD_CHECK(src >= 1 && src <= 3, "from node %d", src);
		struct m21 h;
		CHILD_CHECK((size_t)len >= sizeof(h), "short message (%d B)", len);
		memcpy(&h, buf, sizeof(h));
		CHILD_CHECK(h.sender == (uint32_t)src, "node %d sent sender %u", src, h.sender);
		CHILD_CHECK(h.seq == next[src],
			    "node %d: seq %u, expected %u (lost, doubled or "
			    "out of order)",
			    src, h.seq, next[src]);
		CHILD_CHECK((size_t)len == m21_len(h.sender, h.seq), "length %d", len);
		long bad = check(buf + sizeof(h), (size_t)len - sizeof(h), h.seed);
		CHILD_CHECK(bad < 0, "node %d seq %u: byte %ld wrong", src, h.seq, bad);
		/* The first round: three full backlogs, served round-robin. */
		if (i < 3 * M21_SLOTS)
			CHILD_CHECK(src == (int)(i % 3) + 1,
				    "message %u from node %d: not round-robin", i, src);
		next[src]++;
		if (i == 3 * M21_SLOTS - 1 && bar(S))
			return 1;
	}
	for (int s = 1; s <= 3; s++)
		CHILD_CHECK(next[s] == M21_MSGS, "node %d: %u messages", s, next[s]);
	if (bar(S))
		return 1;
	int src = RMC_MSG_ANY;
	int r = rmc_recv(n.ep, &src, buf, sizeof(buf), RMC_MSG_DONTWAIT);
	CHILD_CHECK(r == -EAGAIN, "a message after the last: %d", r);
	return 0;
}

Test(msg, three_senders_one_receiver_exactly_once_in_order)
{
	pid_t p[4];

	S = new_shared(4);
	p[0] = h_fork(m21_receiver, NULL);
	for (unsigned i = 1; i <= 3; i++)
		p[i] = h_fork(m21_sender, (void *)(uintptr_t)i);
	h_join(p, 4, 120000, "node");
}

/* ---- a slow receiver ------------------------------------------------------- */

#define SLOW_SLOTS 4
#define SLOW_MSGS 200

static int slow_sender(void *arg)
{
	uint8_t buf[256];
	struct node n;
	struct rmc_msg_params p = params(SLOW_SLOTS);
	int r, sent = 0;
	(void)arg;

	p.tx_depth = SLOW_SLOTS; /* credits, not staging, are what runs out */
	p.credit_batch = 2;
	if (node_meet(&n, 1, p))
		return 1;
	CHILD_CHECK(rmc_msg_credits(n.ep, 0) == -ENOLINK, "credits before connecting");
	for (;;) {
		fill(buf, 100, (uint64_t)sent);
		memcpy(buf, &sent, sizeof(sent));
		r = rmc_send(n.ep, 0, buf, 100, RMC_MSG_DONTWAIT);
		if (r == -EAGAIN)
			break;
		CHILD_CHECK(r == 0, "send %d: %s", sent, strerror(-r));
		sent++;
		CHILD_CHECK(sent <= SLOW_SLOTS, "more sends than slots succeeded");
	}
	CHILD_CHECK(sent == SLOW_SLOTS, "%d sends before -EAGAIN", sent);
	CHILD_CHECK(rmc_msg_credits(n.ep, 0) == 0, "credits left: %d", rmc_msg_credits(n.ep, 0));
	/* Still none while the receiver sleeps. */
	for (int i = 0; i < 100; i++) {
		r = rmc_send(n.ep, 0, buf, 100, RMC_MSG_DONTWAIT);
		CHILD_CHECK(r == -EAGAIN, "send to a full ring: %d", r);
	}
	if (bar(S))
		return 1;
	/* The receiver drains slowly: a non-blocking send succeeds once it
	 * has given credits back. */
	uint64_t end = h_now_ms() + TIMEOUT_MS;
	fill(buf, 100, (uint64_t)sent);
	memcpy(buf, &sent, sizeof(sent));
	while ((r = rmc_send(n.ep, 0, buf, 100, RMC_MSG_DONTWAIT)) == -EAGAIN) {
		CHILD_CHECK(h_now_ms() < end, "no credit came back");
		h_sleep_ms(1);
	}
	CHILD_CHECK(r == 0, "send after the drain: %s", strerror(-r));
	sent++;
	/* The rest blocking: the sender waits for the slow receiver. */
	for (; sent < SLOW_MSGS; sent++) {
		fill(buf, 100, (uint64_t)sent);
		memcpy(buf, &sent, sizeof(sent));
		r = rmc_send(n.ep, 0, buf, 100, 0);
		CHILD_CHECK(r == 0, "send %d: %s", sent, strerror(-r));
	}
	return bar(S);
}

static int slow_receiver(void *arg)
{
	uint8_t buf[256];
	struct node n;
	(void)arg;

	if (node_meet(&n, 0, params(SLOW_SLOTS)) || bar(S))
		return 1;
	for (int i = 0; i < SLOW_MSGS; i++) {
		if (i < 12 || i % 40 == 0)
			h_sleep_ms(5); /* slow */
		int src = 1;
		int len = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		CHILD_CHECK(len == 100, "recv %d: %d", i, len);
		int seq;
		memcpy(&seq, buf, sizeof(seq));
		CHILD_CHECK(seq == i, "message %d carries %d: lost or doubled", i, seq);
		/* The first bytes hold seq, the rest the pattern at its offset. */
		long bad = -1;
		for (size_t j = sizeof(seq); j < 100 && bad < 0; j++)
			if (buf[j] != pat((uint64_t)i, j))
				bad = (long)j;
		CHILD_CHECK(bad < 0, "message %d: byte %ld", i, bad);
	}
	if (bar(S))
		return 1;
	int src = RMC_MSG_ANY;
	CHILD_CHECK(rmc_recv(n.ep, &src, buf, sizeof(buf), RMC_MSG_DONTWAIT) == -EAGAIN,
		    "an extra message");
	return 0;
}

Test(msg, slow_receiver_loses_nothing_and_sender_sees_eagain)
{
	run_two(slow_receiver, NULL, slow_sender, 90000);
}

/* ---- sizes ---------------------------------------------------------------- */

static int big_sender(void *arg)
{
	static uint8_t buf[MAX_MSG + 1];
	struct node n;
	(void)arg;

	if (node_meet(&n, 1, params(4)))
		return 1;
	CHILD_CHECK(rmc_send(n.ep, 0, buf, MAX_MSG + 1, 0) == -EMSGSIZE, "max + 1 accepted");
	CHILD_CHECK(rmc_send(n.ep, 0, buf, (size_t)1 << 40, RMC_MSG_DONTWAIT) == -EMSGSIZE,
		    "1 TiB accepted");
	fill(buf, MAX_MSG, 77);
	CHILD_CHECK(rmc_send(n.ep, 0, buf, MAX_MSG, 0) == 0, "max refused");
	fill(buf, 10, 78);
	CHILD_CHECK(rmc_send(n.ep, 0, buf, 10, 0) == 0, "10 B refused");
	return bar(S);
}

static int big_receiver(void *arg)
{
	static uint8_t buf[MAX_MSG];
	struct node n;
	int src, r;
	(void)arg;

	if (node_meet(&n, 0, params(4)))
		return 1;
	/* Too small a buffer: the message stays, its sender is named. */
	uint64_t end = h_now_ms() + TIMEOUT_MS;
	do {
		src = RMC_MSG_ANY;
		r = rmc_recv(n.ep, &src, buf, MAX_MSG - 1, RMC_MSG_DONTWAIT);
	} while (r == -EAGAIN && h_now_ms() < end);
	CHILD_CHECK(r == -EMSGSIZE, "short buffer: %d", r);
	CHILD_CHECK(src == 1, "sender %d", src);
	src = 1;
	CHILD_CHECK(rmc_recv(n.ep, &src, buf, 0, 0) == -EMSGSIZE, "no buffer");
	CHILD_CHECK(rmc_recv(n.ep, NULL, buf, 16, 0) == -EMSGSIZE, "16 B");
	src = RMC_MSG_ANY;
	r = rmc_recv(n.ep, &src, buf, MAX_MSG, 0);
	CHILD_CHECK(r == MAX_MSG, "max: %d", r);
	CHILD_CHECK(check(buf, MAX_MSG, 77) < 0, "max: data");
	src = 1;
	r = rmc_recv(n.ep, &src, buf, 10, 0);
	CHILD_CHECK(r == 10 && check(buf, 10, 78) < 0, "10 B after the big one: %d", r);
	return bar(S);
}

Test(msg, oversized_messages_are_refused)
{
	struct node n;
	struct rmc_msg_params prm = params(4);
	struct rmc_msg_ep *ep = (struct rmc_msg_ep *)&n;

	run_two(big_receiver, NULL, big_sender, 60000);
	/* A slot must fit rmcd's maximum transfer (8192 B here). */
	cr_assert_eq(node_attach(&n, 2, &prm), 0);
	prm.max_msg = 8192 - 40 + 1;
	cr_expect_eq(rmc_msg_init(&ep, &prm), -EMSGSIZE);
	cr_expect_null(ep, "no endpoint after a failure");
	prm.max_msg = 8192 - 40;
	cr_expect_eq(rmc_msg_slot_size(8192 - 40), 8192);
	/* Header, a connection and a credit line per node, 4 rings of 4. */
	cr_expect_eq(rmc_msg_area_size(&prm, NODES), 64 * (1 + 2 * NODES) + NODES * 4 * 8192);
	cr_expect_eq(rmc_msg_slot_size(1), 64);
	cr_expect_eq(rmc_msg_slot_size(0), rmc_msg_slot_size(RMC_MSG_DEFAULT_MAX_MSG));
}

/* ---- a receiver that is not there ------------------------------------------ */

static int late_receiver(void *arg)
{
	uint8_t buf[64];
	struct node n;
	struct rmc_msg_params p = params(4);
	int src, r;
	(void)arg;

	if (node_attach(&n, 2, &p))
		return 1;
	if (bar(S)) /* 1: the sender is refused */
		return 1;
	if (bar(S)) /* 2 */
		return 1;
	CHILD_CHECK((r = rmc_msg_init(&n.ep, &p)) == 0, "init: %s", strerror(-r));
	if (bar(S)) /* 3: the endpoint exists */
		return 1;
	src = 1;
	r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
	CHILD_CHECK(r == 5 && !memcmp(buf, "first", 5), "first message: %d", r);
	CHILD_CHECK(rmc_msg_fini(n.ep) == 0, "fini");
	if (bar(S)) /* 4: gone */
		return 1;
	if (bar(S)) /* 5: the sender saw it */
		return 1;
	/* Back, as a new endpoint on the same area. */
	CHILD_CHECK((r = rmc_msg_init(&n.ep, &p)) == 0, "init again: %s", strerror(-r));
	if (bar(S)) /* 6 */
		return 1;
	src = RMC_MSG_ANY;
	r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
	CHILD_CHECK(r == 5 && !memcmp(buf, "again", 5) && src == 1,
		    "after the restart: %d from %d (a stale message?)", r, src);
	if (bar(S)) /* 7: the sender is done */
		return 1;
	src = RMC_MSG_ANY;
	r = rmc_recv(n.ep, &src, buf, sizeof(buf), RMC_MSG_DONTWAIT);
	CHILD_CHECK(r == -EAGAIN, "a message of the old endpoint came through: %d", r);
	return 0;
}

static int hopeful_sender(void *arg)
{
	struct node n;
	int r;
	(void)arg;

	if (node_open(&n, 1, params(4)))
		return 1;
	/* Nobody at node 2: refused at once, blocking or not. */
	CHILD_CHECK((r = rmc_send(n.ep, 2, "x", 1, 0)) == -ECONNREFUSED, "blocking: %d", r);
	CHILD_CHECK((r = rmc_send(n.ep, 2, "x", 1, RMC_MSG_DONTWAIT)) == -ECONNREFUSED,
		    "non-blocking: %d", r);
	CHILD_CHECK(rmc_msg_connect(n.ep, 2) == -ECONNREFUSED, "connect");
	CHILD_CHECK(rmc_msg_credits(n.ep, 2) == -ENOLINK, "credits");
	if (bar(S) || bar(S) || bar(S)) /* 1, 2, 3 */
		return 1;
	CHILD_CHECK((r = rmc_send(n.ep, 2, "first", 5, 0)) == 0, "first: %s", strerror(-r));
	if (bar(S)) /* 4: node 2's endpoint is gone */
		return 1;
	/* The sends that still have credits land in the withdrawn area; the
	 * first without notices the receiver is gone, not a timeout. */
	int i;
	for (i = 0; i < 10; i++)
		if ((r = rmc_send(n.ep, 2, "lost!", 5, 0)))
			break;
	CHILD_CHECK(r == -ECONNRESET, "send %d to a finished endpoint: %s", i, strerror(-r));
	CHILD_CHECK(i >= 3 && i <= 4, "%d sends before the reset, expected the credits (3 or 4)",
		    i);
	CHILD_CHECK((r = rmc_send(n.ep, 2, "x", 1, 0)) == -ECONNREFUSED, "after: %s", strerror(-r));
	if (bar(S) || bar(S)) /* 5, 6: node 2 is back */
		return 1;
	CHILD_CHECK((r = rmc_send(n.ep, 2, "again", 5, 0)) == 0, "again: %s", strerror(-r));
	return bar(S); /* 7 */
}

Test(msg, receiver_missing_finished_and_restarted)
{
	run_two(late_receiver, NULL, hopeful_sender, 90000);
}

/* ---- a sender that is replaced ---------------------------------------------- */

/* Waits (up to 60 s) until *flag is set by a sibling or the test. */
static int wait_flag(uint64_t *flag)
{
	uint64_t end = h_now_ms() + 60000;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		CHILD_CHECK(h_now_ms() < end, "a sibling never got there");
		h_sleep_ms(1);
	}
	return 0;
}

static void set_flag(uint64_t *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/* v[0]: the survivor's endpoint exists; v[1]: it took A0 and A1; v[2]:
 * the first life is over (set by the test); v[3]: B0 and B1 are sent. */
static int first_life(void *arg)
{
	struct node n;
	(void)arg;

	if (node_open(&n, 3, params(4)) || wait_flag(&S->v[0]))
		return 1;
	CHILD_CHECK(rmc_send(n.ep, 0, "A0", 2, 0) == 0, "A0");
	CHILD_CHECK(rmc_send(n.ep, 0, "A1", 2, 0) == 0, "A1");
	CHILD_CHECK(rmc_send(n.ep, 0, "A2", 2, 0) == 0, "A2");
	/* Exits without rmc_msg_fini, as a crash would. */
	return 0;
}

static int second_life(void *arg)
{
	struct node n;
	(void)arg;

	if (wait_flag(&S->v[1]) || wait_flag(&S->v[2]))
		return 1;
	/* The dead owner's area is taken over. */
	if (node_open(&n, 3, params(4)))
		return 1;
	CHILD_CHECK(rmc_send(n.ep, 0, "B0", 2, 0) == 0, "B0");
	CHILD_CHECK(rmc_send(n.ep, 0, "B1", 2, 0) == 0, "B1");
	set_flag(&S->v[3]);
	return 0;
}

static int survivor(void *arg)
{
	char buf[8];
	struct node n;
	int src, r;
	(void)arg;

	if (node_open(&n, 0, params(4)))
		return 1;
	set_flag(&S->v[0]);
	for (int i = 0; i < 2; i++) {
		src = 3;
		r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		CHILD_CHECK(r == 2 && buf[0] == 'A' && buf[1] == '0' + i, "A%d: %d", i, r);
	}
	set_flag(&S->v[1]);
	if (wait_flag(&S->v[3]))
		return 1;
	/* A2 belonged to the dead connection: dropped, never mixed in. */
	for (int i = 0; i < 2; i++) {
		src = RMC_MSG_ANY;
		r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		CHILD_CHECK(r == 2 && src == 3 && buf[0] == 'B' && buf[1] == '0' + i,
			    "message %d of the new sender: %d from %d, \"%c%c\"", i, r, src, buf[0],
			    buf[1]);
	}
	src = RMC_MSG_ANY;
	CHILD_CHECK(rmc_recv(n.ep, &src, buf, sizeof(buf), RMC_MSG_DONTWAIT) == -EAGAIN,
		    "more messages");
	return 0;
}

Test(msg, replaced_sender_starts_a_fresh_connection)
{
	pid_t a, p[2];
	int st;

	S = new_shared(1);
	p[0] = h_fork(survivor, NULL);
	p[1] = h_fork(second_life, NULL);
	a = h_fork(first_life, NULL);
	cr_assert_eq(h_wait(a, 60000, &st), 0, "first life did not end");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "first life failed");
	set_flag(&S->v[2]);
	h_join(p, 2, 60000, "node");
}

/* ---- bad arguments -------------------------------------------------------------- */

Test(msg, bad_arguments_are_rejected)
{
	struct node n, other;
	struct rmc_msg_params p = params(4), q, o = params(4);
	struct rmc_msg_ep *ep = NULL, *ep2 = NULL;
	char buf[64];
	int src;

	cr_assert_eq(node_attach(&n, 1, &p), 0);
	cr_assert_eq(node_attach(&other, 1, &o), 0); /* a second queue pair */
	cr_expect_eq(rmc_msg_init(NULL, &p), -EINVAL);
	cr_expect_eq(rmc_msg_init(&ep, NULL), -EINVAL);
#define BAD_INIT(field, value, err)                                                  \
	do {                                                                         \
		q = p;                                                               \
		q.field = value;                                                     \
		ep = (struct rmc_msg_ep *)buf;                                       \
		cr_expect_eq(rmc_msg_init(&ep, &q), err, "%s = %s", #field, #value); \
		cr_expect_null(ep, "%s: *ep left set", #field);                      \
	} while (0)
	BAD_INIT(fd, -1, -EINVAL);
	BAD_INIT(wq, NULL, -EINVAL);
	BAD_INIT(cq, NULL, -EINVAL);
	BAD_INIT(lbuff, NULL, -EINVAL);
	BAD_INIT(ctx, NULL, -EINVAL);
	BAD_INIT(slots, 3, -EINVAL);
	BAD_INIT(slots, RMC_MSG_MAX_SLOTS * 2, -EINVAL);
	BAD_INIT(ctx_offset, 32, -EINVAL);
	BAD_INIT(ctx_offset, p.ctx_len, -EINVAL);
	BAD_INIT(ctx_len, 4096, -EINVAL);
	BAD_INIT(lbuff_len, 128, -EINVAL);
	BAD_INIT(flags, 0x100, -EINVAL);
	BAD_INIT(tx_depth, RMC_MSG_MAX_TX_DEPTH + 1, -EINVAL);
	BAD_INIT(credit_batch, 5, -EINVAL);
	BAD_INIT(ctx_id, 256, -EINVAL);
	BAD_INIT(wq, other.a.wq, -EINVAL); /* a WQ of another descriptor */
	BAD_INIT(max_msg, 1u << 31, -EINVAL);
	cr_expect_eq(rmc_msg_area_size(NULL, 4), -EINVAL);
	cr_expect_eq(rmc_msg_area_size(&p, 0), -EINVAL);
	cr_expect_eq(rmc_msg_lbuff_size(&p, 0), -EINVAL);
	q = p;
	q.slots = 6;
	cr_expect_eq(rmc_msg_lbuff_size(&q, 4), -EINVAL);

	cr_assert_eq(rmc_msg_init(&ep, &p), 0);
	/* One live endpoint per area: another (even in this program) waits. */
	cr_expect_eq(rmc_msg_init(&ep2, &o), -EADDRINUSE);

	cr_expect_eq(rmc_send(NULL, 1, buf, 1, 0), -EINVAL);
	cr_expect_eq(rmc_send(ep, -1, buf, 1, 0), -EINVAL);
	cr_expect_eq(rmc_send(ep, NODES, buf, 1, 0), -EINVAL);
	cr_expect_eq(rmc_send(ep, 0x10000, buf, 1, 0), -EINVAL);
	cr_expect_eq(rmc_send(ep, 1, buf, 1, 2), -EINVAL, "unknown flag");
	cr_expect_eq(rmc_send(ep, 1, NULL, 1, 0), -EINVAL);
	cr_expect_eq(rmc_recv(NULL, NULL, buf, sizeof(buf), 0), -EINVAL);
	src = NODES;
	cr_expect_eq(rmc_recv(ep, &src, buf, sizeof(buf), 0), -EINVAL);
	src = -2;
	cr_expect_eq(rmc_recv(ep, &src, buf, sizeof(buf), 0), -EINVAL);
	src = RMC_MSG_ANY;
	cr_expect_eq(rmc_recv(ep, &src, NULL, 8, 0), -EINVAL);
	cr_expect_eq(rmc_recv(ep, &src, buf, sizeof(buf), 4), -EINVAL, "unknown flag");
	cr_expect_eq(rmc_recv(ep, &src, buf, sizeof(buf), RMC_MSG_DONTWAIT), -EAGAIN);
	cr_expect_eq(rmc_msg_connect(ep, NODES), -EINVAL);
	cr_expect_eq(rmc_msg_connect(NULL, 0), -EINVAL);
	cr_expect_eq(rmc_msg_credits(ep, -1), -EINVAL);
	cr_expect_eq(rmc_msg_get_info(ep, NULL), -EINVAL);
	cr_expect_eq(rmc_msg_progress(NULL), -EINVAL);
	cr_expect_eq(rmc_msg_flush(NULL), -EINVAL);

	/* To itself, with an empty message and without a buffer. */
	cr_expect_eq(rmc_send(ep, 1, NULL, 0, 0), 0);
	cr_expect_eq(rmc_send(ep, 1, "self", 4, 0), 0);
	src = RMC_MSG_ANY;
	cr_expect_eq(rmc_recv(ep, &src, NULL, 0, 0), 0, "the empty message");
	cr_expect_eq(src, 1);
	src = 1;
	cr_expect_eq(rmc_recv(ep, &src, buf, sizeof(buf), 0), 4);
	cr_expect_eq(memcmp(buf, "self", 4), 0);
	/* Two consumed: a batch (slots / 2), so the credits come back. */
	uint64_t end = h_now_ms() + 10000;
	int cr;
	while ((cr = rmc_msg_credits(ep, 1)) != 4 && h_now_ms() < end)
		cr_assert_geq(rmc_msg_progress(ep), 0);
	cr_expect_eq(cr, 4, "credits after the receiver consumed all: %d", cr);

	cr_expect_eq(rmc_msg_fini(ep), 0);
	cr_expect_eq(rmc_msg_fini(NULL), 0);
	/* The area is free again. */
	cr_assert_eq(rmc_msg_init(&ep2, &o), 0);
	cr_expect_eq(rmc_msg_fini(ep2), 0);
}

/* ---- the timing model ------------------------------------------------------------ */

#define LAT_NS 20000.0
#define LAT_REPS 50

static void start_fixed(void)
{
	h_rmcd_start(&R, 2,
		     "cluster = { nodes = 2; contexts = [64, 64]; max_transfer = 8192;\n"
		     "            lock_memory = false; };\n"
		     "model = { name = \"fixed\"; latency_ns = 20000; };\n");
}

TestSuite(msg_timing, .init = start_fixed, .fini = stop, .timeout = 120);

static int t_echo(void *arg)
{
	char buf[64];
	struct node n;
	(void)arg;

	if (node_meet(&n, 1, params(4)))
		return 1;
	for (int i = 0; i < LAT_REPS; i++) {
		int src = 0;
		int r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		S->t[1][i] = rmc_rdtsc();
		CHILD_CHECK(r == 16, "recv: %d", r);
		CHILD_CHECK(rmc_send(n.ep, 0, buf, 16, RMC_MSG_DONTWAIT) == 0, "reply");
	}
	/* The last reply may still be held back by the model: a program
	 * that exits before its writes complete loses them (rmc_send(3)). */
	CHILD_CHECK(rmc_msg_flush(n.ep) == 0, "flush");
	CHILD_CHECK(rmc_msg_fini(n.ep) == 0, "fini");
	return 0;
}

static int t_ping(void *arg)
{
	char buf[64] = "0123456789abcdef";
	struct node n;
	(void)arg;

	if (node_open(&n, 0, params(4)))
		return 1;
	S->tsc_hz = n.a.info.tsc_hz;
	if (bar(S) || connect_retry(&n, 1))
		return 1;
	for (int i = 0; i < LAT_REPS; i++) {
		S->t[0][i] = rmc_rdtsc();
		CHILD_CHECK(rmc_send(n.ep, 1, buf, 16, RMC_MSG_DONTWAIT) == 0, "ping");
		int src = 1;
		int r = rmc_recv(n.ep, &src, buf, sizeof(buf), 0);
		uint64_t t = rmc_rdtsc();
		CHILD_CHECK(r == 16, "pong: %d", r);
		S->v[i] = t - S->t[0][i];
	}
	return 0;
}

Test(msg_timing, a_message_is_never_seen_before_the_models_write_latency)
{
	run_two(t_echo, NULL, t_ping, 60000);
	/* A lower bound only: the model's time may be exceeded (a loaded
	 * machine), never undercut. */
	uint64_t lat = (uint64_t)(LAT_NS * S->tsc_hz / 1e9);
	for (int i = 0; i < LAT_REPS; i++) {
		uint64_t one_way = S->t[1][i] - S->t[0][i];
		cr_expect_geq(one_way + 2, lat,
			      "message %d arrived after %.0f ns, before the model's %.0f", i,
			      (double)one_way * 1e9 / S->tsc_hz, LAT_NS);
	}
	for (int i = 0; i < LAT_REPS; i++)
		cr_expect_geq(S->v[i] + 4, 2 * lat, "round trip %d below twice the latency", i);
}

/* ---- sonuma-bench --msg-pingpong -------------------------------------------------- */

static void start_bench(void)
{
	h_rmcd_start(&R, NODES,
		     "cluster = { nodes = 4; contexts = [256, 16]; max_transfer = 8192;\n"
		     "            lock_memory = false; };\n");
}

TestSuite(msg_bench, .init = start_bench, .fini = stop, .timeout = 150);

Test(msg_bench, sonuma_bench_pingpong_runs_in_every_format)
{
	const char *bench = h_env("SONUMA_BENCH");
	static struct h_out o;
	char envn[] = "SONUMA_NODE=0";
	char *env[] = { envn, NULL };

	/* Table. */
	char *a1[] = { (char *)bench, "--msg-pingpong",
		       "-s",	      "8,1000,4000",
		       "-n",	      "300",
		       "-w",	      "30",
		       "-t",	      "2",
		       NULL };
	h_run(a1, env, 60000, &o);
	cr_assert(!o.timed_out && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0,
		  "sonuma-bench (table) failed:\n%s\n%s", o.out, o.err);
	cr_expect_not_null(strstr(o.out, "rtt_p50"), "table header:\n%s", o.out);
	cr_expect_not_null(strstr(o.out, "node 0 <-> node 2"), "peers:\n%s", o.out);
	int rows = 0;
	for (char *l = o.out; (l = strchr(l, '\n')); l++)
		if (l[1] && l[1] != '#' && strncmp(l + 1, "     size", 9))
			rows++;
	cr_expect_eq(rows, 3, "one row per size:\n%s", o.out);

	/* CSV: a header and one row per size. */
	char *a2[] = { (char *)bench,
		       "--msg-pingpong",
		       "-s",
		       "64,512",
		       "-n",
		       "200",
		       "-w",
		       "20",
		       "-f",
		       "csv",
		       "-m",
		       "async",
		       "--msg-ctx",
		       "1",
		       "--msg-offset",
		       "4096",
		       NULL };
	h_run(a2, env, 60000, &o);
	cr_assert(!o.timed_out && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0,
		  "sonuma-bench (csv) failed:\n%s\n%s", o.out, o.err);
	char *hdr = strstr(o.out, "\nsize,iterations,rtt_min_ns");
	cr_assert_not_null(hdr, "CSV header:\n%s", o.out);
	int lines = 0;
	for (char *l = hdr + 1; (l = strchr(l, '\n')) && l[1]; l++)
		lines++;
	cr_expect_eq(lines, 2, "CSV rows:\n%s", o.out);
	cr_expect_not_null(strstr(o.out, "\n64,200,"), "the 64 B row:\n%s", o.out);

	/* JSON. */
	char *a3[] = { (char *)bench, "--msg-pingpong", "-s", "100", "-n", "100", "-w", "10", "-f",
		       "json",	      "--msg-slots",	"4",  NULL };
	h_run(a3, env, 60000, &o);
	cr_assert(!o.timed_out && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0,
		  "sonuma-bench (json) failed:\n%s\n%s", o.out, o.err);
	cr_expect_not_null(strstr(o.out, "\"mode\": \"msg-pingpong\""), "%s", o.out);
	cr_expect_not_null(strstr(o.out, "\"ow_p50_ns\": "), "%s", o.out);
	cr_expect_not_null(strstr(o.out, "\"msgs_per_s\": "), "%s", o.out);
	cr_expect_not_null(strstr(o.out, "\"slots\": 4"), "%s", o.out);

	/* Bad uses are refused with a message. */
	char *a4[] = { (char *)bench, "--msg-pingpong", "-t", "0", NULL };
	h_run(a4, env, 20000, &o);
	cr_expect(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2, "a ping-pong with itself: %s",
		  o.err);
	char *a5[] = { (char *)bench, "--msg-pingpong", "-s", "100000", NULL };
	h_run(a5, env, 20000, &o);
	cr_expect(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2,
		  "a message larger than the maximum transfer: %s", o.err);
	char *a6[] = { (char *)bench, "--msg-pingpong", "-s", "4000", "--msg-slots", "64", NULL };
	h_run(a6, env, 20000, &o);
	cr_expect(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2,
		  "an area larger than the context: %s", o.err);
	char *a7[] = { (char *)bench, "--msg-slots", "4", NULL };
	h_run(a7, env, 20000, &o);
	cr_expect(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2,
		  "--msg-slots without --msg-pingpong: %s", o.err);
}
