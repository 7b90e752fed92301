/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ctl: rmcd's control protocol, through its real code path.
 *
 * rmcd/ctl.c is compiled into this file (its request handler is static), so
 * the harness runs exactly what rmcd runs: a cluster built by
 * rmcd_cluster_init() in a private run directory (3 nodes of 64 KiB, real
 * listening sockets), the control loop's own dispatch -- on_accept() for a
 * node's socket, on_session() for an application's -- over an epoll set, and
 * a client that connects to a node socket like libsonuma and sends the
 * fuzzer's bytes as SOCK_SEQPACKET messages.
 *
 * Input: 1 header byte, then chunks of 1 control byte + payload.
 *   header bits 0-1   node to attach to (% 3)
 *          bits 2-3   model: none, fixed, link
 *          bit 4      a calibration is loaded (CTL_DESCRIBE 1 reports it)
 *   control bits 0-1  0: 32 bytes as a ctl_req, magic and version set right
 *                     1: 32 raw bytes
 *                     2: a message of any length: 1 length byte (0-255) and
 *                        that many bytes (a zero-length message is EOF)
 *                     3: like 0 with op folded into 1..CTL_OP_MAX, pages
 *                        small, addr page-aligned: registrations that work
 *           bits 2-3  0, 1: that many descriptors attached; 2: three (rmcd
 *                     must close them all); 3: hang up right after sending
 *                     (rmcd's reply fails, the session must go)
 *           bit 4     leave the reply unread for now (pipelining)
 *           bit 5     with bit 4: send the next one before rmcd reads this
 *           bits 6-7  send it 1, 2, 16 or 64 times (to reach the limits:
 *                     256 QPs, 64 buffers per session)
 *
 * Checks: no crash or sanitizer report; one reply per request, each exactly
 * a struct ctl_resp with the right magic and a status that is 0 or a
 * negative errno; a request with a wrong magic or version, a wrong length
 * or an unknown op is refused; a descriptor comes only with a successful
 * registration and always with one, and its object has the size the reply
 * gives; text replies are NUL-terminated with nothing after the string (no
 * stale bytes sent to the application); after the client hangs up its
 * session is reclaimed, every descriptor is closed and every segment
 * unmapped (/proc/self/fd and the memfd lines of /proc/self/maps counted
 * before and after each input), and nothing leaks (LeakSanitizer).
 *
 * Known and kept out of the way (fuzz/crashes/README.md): CTL_REG_LBUFF
 * accepts up to 4 GiB per buffer and touches every page at once, so the
 * harness lowers its page count; and rmcd blocks on a client that does not
 * read its replies, so the harness never lets more than a few pile up.
 */
#include "../rmcd/ctl.c"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fuzz_common.h"

#define NODES 3
#define CTX_PAGES 16
#define MAX_LBUFF_PAGES 64 /* see above; SONUMA_FUZZ_CTL_BIG_LBUFF lifts it */
#define MAX_INFLIGHT 4	   /* SONUMA_FUZZ_CTL_INFLIGHT overrides it, up to 2048 */
#define INFLIGHT_CAP 2048

static struct {
	bool up;
	struct rmcd d;
	char rundir[64];
	const struct tm_ops *model[3];
	void *model_state[3];
	struct cal_data *cal;
} F;

/* Run directories left by runs that crashed (their rmcd.lock is no longer
 * held): removed, so that findings do not litter /tmp. */
static void remove_stale_rundirs(void)
{
	DIR *tmp = opendir("/tmp");
	struct dirent *e;

	if (!tmp)
		return;
	while ((e = readdir(tmp))) {
		char dir[300], path[600];
		if (strncmp(e->d_name, "sonuma-fuzz-ctl-", 16))
			continue;
		snprintf(dir, sizeof(dir), "/tmp/%s", e->d_name);
		snprintf(path, sizeof(path), "%s/rmcd.lock", dir);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (fd >= 0)
				close(fd);
			continue; /* in use by a live harness */
		}
		DIR *dh = opendir(dir);
		struct dirent *f;
		while (dh && (f = readdir(dh)))
			if (f->d_name[0] != '.')
				unlinkat(dirfd(dh), f->d_name, 0);
		if (dh)
			closedir(dh);
		close(fd);
		rmdir(dir);
	}
	closedir(tmp);
}

static void fz_setup(void)
{
	struct rmcd *d = &F.d;
	char err[512] = "";
	int r;

	memset(d, 0, sizeof(*d));
	d->sigfd = d->epfd = d->shared_fd = d->rmcdev_fd = d->peer_evfd = -1;
	core_config_defaults(&d->cfg);
	remove_stale_rundirs();
	snprintf(F.rundir, sizeof(F.rundir), "/tmp/sonuma-fuzz-ctl-XXXXXX");
	FZ_CHECK(mkdtemp(F.rundir), "mkdtemp: %s", strerror(errno));
	snprintf(d->cfg.rundir, sizeof(d->cfg.rundir), "%s", F.rundir);
	d->cfg.nodes = NODES;
	d->cfg.context_pages = CTX_PAGES;
	d->cfg.max_transfer = CTX_PAGES * PAGE_SIZE;
	d->cfg.lock_memory = false;
	d->cfg.queue_depth = 32;
	d->tsc_hz = core_tsc_measure_hz(10);
	FZ_CHECK(d->tsc_hz > 0, "cannot measure the TSC rate");
	d->fabric = &rmcd_fabric_shm;

	static const char *const names[3] = { "none", "fixed", "link" };
	struct tm_env env = { .tsc_hz = d->tsc_hz, .nodes = NODES };
	for (int i = 0; i < 3; i++) {
		F.model[i] = tm_find(names[i]);
		FZ_CHECK(F.model[i], "no model %s", names[i]);
		r = F.model[i]->init(NULL, &env, &F.model_state[i], err, sizeof(err));
		FZ_CHECK(r == 0, "model %s: %s", names[i], err);
	}
	d->model = F.model[0];
	d->model_state = F.model_state[0];

	F.cal = calloc(1, sizeof(*F.cal));
	FZ_CHECK(F.cal, "out of memory");
	snprintf(F.cal->id.cpu_model, sizeof(F.cal->id.cpu_model), "Fuzz CPU");
	snprintf(F.cal->id.date, sizeof(F.cal->id.date), "2024-01-01T00:00:00Z");
	F.cal->id.cores = 2;
	snprintf(d->cal_path, sizeof(d->cal_path), "/tmp/calibration.cfg");

	r = rmcd_cluster_init(d, err, sizeof(err));
	FZ_CHECK(r == 0, "rmcd_cluster_init: %s", err);
	/* The control loop's epoll set, as rmcd_ctl_run() builds it. */
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	FZ_CHECK(d->epfd >= 0, "epoll_create1: %s", strerror(errno));
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		ev.data.ptr = (void *)((uintptr_t)&d->nodes[i] | TAG_NODE);
		FZ_CHECK(epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->nodes[i].listen_fd, &ev) == 0,
			 "epoll_ctl: %s", strerror(errno));
	}
	F.up = true;
}

/* At exit, as rmcd's main() ends: sessions, cluster, run directory. */
static void fz_teardown(void)
{
	char lock[128];

	if (!F.up)
		return;
	while (F.d.sessions)
		rmcd_session_close(&F.d, F.d.sessions);
	rmcd_cluster_fini(&F.d);
	close(F.d.epfd);
	snprintf(lock, sizeof(lock), "%s/rmcd.lock", F.rundir);
	unlink(lock);
	rmdir(F.rundir);
	F.up = false;
}

/* One round of rmcd_ctl_run()'s loop, without waiting. */
static int dispatch(void)
{
	struct epoll_event evs[32];
	int n = epoll_wait(F.d.epfd, evs, (int)CORE_ARRAY_SIZE(evs), 0);

	FZ_CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		void *ptr = evs[i].data.ptr;
		if ((uintptr_t)ptr & TAG_NODE)
			on_accept(&F.d,
				  (struct rmcd_node *)((uintptr_t)ptr & ~(uintptr_t)TAG_NODE));
		else
			on_session(&F.d, ptr, evs[i].events);
	}
	return n;
}

static void dispatch_all(void)
{
	for (int i = 0; i < 64 && dispatch() > 0; i++)
		;
}

static int n_sessions(void)
{
	int n = 0;
	for (struct rmcd_session *s = F.d.sessions; s; s = s->next)
		n++;
	return n;
}

static int client_connect(uint32_t nid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	FZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.d.nodes[nid].sock_path);
	FZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		 sa.sun_path, strerror(errno));
	int before = n_sessions();
	dispatch_all();
	FZ_CHECK(n_sessions() == before + 1, "rmcd did not accept the connection");
	return fd;
}

/* A request as sent, and what its reply must look like. */
struct sent {
	bool well_formed; /* right length, magic and version */
	uint16_t op;
	uint32_t id;
};

/* SONUMA_FUZZ_SKIP="name,...": leave out the check of a finding already
 * reported, to look for others (never set by run.sh or ci.sh). */
static bool skip(const char *name)
{
	const char *s = getenv("SONUMA_FUZZ_SKIP");
	return s && strstr(s, name);
}

static bool is_errno(int32_t st)
{
	return st == 0 || (st < 0 && st >= -4095);
}

static bool op_gives_fd(uint16_t op)
{
	return op == CTL_REG_WQ || op == CTL_REG_CQ || op == CTL_REG_LBUFF || op == CTL_REG_CTX;
}

/* Takes one reply if there is one; 1 taken, 0 none waiting, -1 EOF. */
static int take_reply(int fd, const struct sent *q)
{
	union {
		struct ctl_resp p;
		uint8_t b[sizeof(struct ctl_resp) + 64];
	} u;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = &u, .iov_len = sizeof(u) };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.b,
			    .msg_controllen = sizeof(cm.b) };
	int fds[8], nfd = 0;
	ssize_t n;

	memset(&u, 0xee, sizeof(u));
	n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0 && errno == ECONNRESET)
		return -1;
	FZ_CHECK(n >= 0, "recvmsg: %s", strerror(errno));
	if (n == 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && nfd < 8; i++)
			memcpy(&fds[nfd++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	FZ_CHECK(!(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)), "reply truncated (flags 0x%x)",
		 m.msg_flags);
	FZ_CHECK((size_t)n == sizeof(struct ctl_resp), "reply of %zd bytes, not %zu", n,
		 sizeof(struct ctl_resp));
	FZ_CHECK(u.p.magic == CTL_MAGIC, "reply magic 0x%08x", u.p.magic);
	FZ_CHECK(is_errno(u.p.status), "reply status %d is neither 0 nor a negative errno",
		 u.p.status);
	if (!q->well_formed || q->op == 0 || q->op >= CTL_OP_MAX)
		FZ_CHECK(u.p.status != 0, "malformed request (op %u, well formed %d) accepted",
			 q->op, q->well_formed);
	FZ_CHECK(nfd <= 1, "%d descriptors attached to one reply", nfd);
	if (nfd)
		FZ_CHECK(u.p.status == 0 && q->well_formed && op_gives_fd(q->op),
			 "a descriptor came with a reply to op %u, status %d", q->op, u.p.status);
	else if (q->well_formed && u.p.status == 0)
		FZ_CHECK(!op_gives_fd(q->op), "successful op %u came without its segment", q->op);
	if (nfd) {
		ssize_t sz = core_fd_size(fds[0]);
		FZ_CHECK(sz >= 0 && (uint64_t)sz == u.p.size,
			 "op %u: the segment is %zd bytes, the reply says %llu", q->op, sz,
			 (unsigned long long)u.p.size);
	}
	if (q->well_formed && q->op == CTL_DESCRIBE && u.p.status == 0 && !skip("describe-stale")) {
		const uint8_t *t = u.p.u.raw;
		size_t len = strnlen((const char *)t, sizeof(u.p.u.raw));
		FZ_CHECK(len < sizeof(u.p.u.raw), "CTL_DESCRIBE text is not NUL-terminated");
		for (size_t i = len; i < sizeof(u.p.u.raw); i++)
			FZ_CHECK(
				t[i] == 0,
				"CTL_DESCRIBE %u: byte %zu of the reply, after the text \"%s\", is "
				"0x%02x: rmcd sends stale memory to the application",
				q->id, i, (const char *)t, t[i]);
	}
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	return 1;
}

/* Sends one message with nfd descriptors (of /dev/null) attached. */
static int send_msg(int fd, const void *buf, size_t len, int nfd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(3 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[3];
	ssize_t n;

	for (int i = 0; i < nfd; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		FZ_CHECK(fds[i] >= 0, "open: %s", strerror(errno));
	}
	if (nfd) {
		memset(&cm, 0, sizeof(cm));
		m.msg_control = cm.b;
		m.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
	}
	n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	return n < 0 ? -errno : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setenv("SONUMA_LOG", "err", 0);
	core_log_init("fuzz_ctl");
	signal(SIGPIPE, SIG_IGN);
	fz_setup();
	atexit(fz_teardown);
	return 0;
}

/* Takes from the input the message that command byte c announces (a
 * control request, repaired as c asks, or raw bytes) into buf, and what is
 * known of it into *q: its length, or -1 when the input ends first. */
static long take_msg(uint8_t c, const uint8_t **data, size_t *size, uint8_t *buf, struct sent *q)
{
	struct ctl_req r;
	size_t len;

	switch (c & 3) {
	case 0:
	case 1:
	case 3:
		if (*size < sizeof(struct ctl_req))
			return -1;
		len = sizeof(struct ctl_req);
		memcpy(buf, *data, len);
		break;
	default:
		if (*size < 1)
			return -1;
		len = (*data)[0];
		(*data)++, (*size)--;
		if (*size < len)
			len = *size;
		memcpy(buf, *data, len);
		break;
	}
	*data += len, *size -= len;

	if ((c & 3) == 0 || (c & 3) == 3) {
		memcpy(&r, buf, sizeof(r));
		r.magic = CTL_MAGIC;
		r.version = CTL_VERSION;
		if ((c & 3) == 3) {
			r.op = (uint16_t)(1 + r.op % CTL_OP_MAX);
			r.pages = r.pages % 17;
			r.addr = (r.addr & ~(uint64_t)(PAGE_SIZE - 1) & 0xffffffffffffull) |
				 0x100000000ull;
			r.id %= 20;
		}
		memcpy(buf, &r, sizeof(r));
	}
	if (len >= sizeof(r)) {
		memcpy(&r, buf, sizeof(r));
		/* Known resource problem (see the header): keep buffers small. */
		if (r.magic == CTL_MAGIC && r.version == CTL_VERSION && r.op == CTL_REG_LBUFF &&
		    r.pages > MAX_LBUFF_PAGES && !getenv("SONUMA_FUZZ_CTL_BIG_LBUFF")) {
			r.pages = 1 + r.pages % MAX_LBUFF_PAGES;
			memcpy(buf, &r, sizeof(r));
		}
		/* Known finding (crashes/fuzz_ctl/target-size-float-overflow):
		 * out of the way only when asked to. */
		if (r.magic == CTL_MAGIC && r.version == CTL_VERSION && r.op == CTL_TARGET &&
		    skip("target-overflow") && r.addr > (1ull << 30)) {
			r.addr &= (1ull << 30) - 1;
			memcpy(buf, &r, sizeof(r));
		}
		q->op = r.op;
		q->id = r.id;
		q->well_formed = len == sizeof(r) && r.magic == CTL_MAGIC &&
				 r.version == CTL_VERSION;
	}
	return (long)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int max_inflight;
	struct sent inflight[INFLIGHT_CAP];
	int n_inflight = 0, fd;
	uint32_t nid;
	uint8_t buf[256];

	if (size < 1)
		return 0;
	if (!F.up)
		fz_setup();
	if (!max_inflight) {
		const char *e = getenv("SONUMA_FUZZ_CTL_INFLIGHT");
		max_inflight = e ? atoi(e) : MAX_INFLIGHT;
		if (max_inflight < 1 || max_inflight > INFLIGHT_CAP)
			max_inflight = MAX_INFLIGHT;
	}
	nid = (data[0] & 3) % NODES;
	F.d.model = F.model[((data[0] >> 2) & 3) % 3];
	F.d.model_state = F.model_state[((data[0] >> 2) & 3) % 3];
	F.d.cal = (data[0] & 16) ? F.cal : NULL;
	data++, size--;

	struct fz_held before = fz_held_now();
	fd = client_connect(nid);

	while (size > 0) {
		uint8_t c = data[0];
		size_t len;
		struct sent q = { 0 };
		data++, size--;

		long got = take_msg(c, &data, &size, buf, &q);
		if (got < 0)
			goto out;
		len = (size_t)got;

		static const int reps[4] = { 1, 2, 16, 64 };
		for (int k = 0; k < reps[c >> 6]; k++) {
			/* No more than a few replies left unread (see the header). */
			if (n_inflight == max_inflight || len == 0) {
				dispatch_all();
				for (int i = 0; i < n_inflight; i++)
					FZ_CHECK(take_reply(fd, &inflight[i]) == 1,
						 "request %d of %d in flight got no reply", i,
						 n_inflight);
				n_inflight = 0;
			}
			static const int nfds[4] = { 0, 1, 3, 0 };
			int e = send_msg(fd, buf, len, nfds[(c >> 2) & 3]);
			FZ_CHECK(e == 0, "send: %s", strerror(-e));
			if (((c >> 2) & 3) == 3) {
				/* Gone before the reply: rmcd serves the request,
				 * fails to answer, and reclaims the session. */
				int before = n_sessions();
				close(fd);
				dispatch_all();
				FZ_CHECK(n_sessions() == before - 1,
					 "a session outlived its connection");
				n_inflight = 0;
				fd = client_connect(nid);
				continue;
			}
			if (len == 0) {
				/* Zero bytes read as EOF: rmcd closes the session.
				 * Attach again. */
				int before = n_sessions();
				dispatch_all();
				FZ_CHECK(n_sessions() == before - 1,
					 "an empty message did not end the session");
				FZ_CHECK(take_reply(fd, &q) == -1, "no EOF after an empty message");
				close(fd);
				fd = client_connect(nid);
				continue;
			}
			inflight[n_inflight++] = q;
			if ((c & 48) == 48)
				continue; /* rmcd reads it with the next one */
			dispatch_all();
			if (c & 16)
				continue; /* the reply stays unread for now */
			for (int i = 0; i < n_inflight; i++)
				FZ_CHECK(take_reply(fd, &inflight[i]) == 1,
					 "request %d of %d in flight got no reply", i, n_inflight);
			n_inflight = 0;
		}
	}
out:
	dispatch_all();
	for (int i = 0; i < n_inflight; i++)
		FZ_CHECK(take_reply(fd, &inflight[i]) == 1, "request %d of %d got no reply", i,
			 n_inflight);
	FZ_CHECK(take_reply(fd, &(struct sent){ 0 }) == 0, "a reply nobody asked for");
	close(fd);
	dispatch_all();
	FZ_CHECK(F.d.sessions == NULL, "the session outlived its connection");
	fz_check_released(before, "the input");
	return 0;
}
