/* SPDX-License-Identifier: MIT */
/* Queue pairs: a WQ segment and a CQ segment per QP, shared with the app. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "rmcd.h"

/* Whether the RMC thread serving node n runs on a CPU meant for n's
 * programs (cluster.c gives them every CPU of the domain when none is free
 * of RMC threads). */
static bool rmc_on_app_cpu(const struct rmcd *d, const struct rmcd_node *n)
{
	int cpu = d->rmcs[n->rmc].cpu;

	return cpu >= 0 && cpu < 256 && (n->app_cpus[cpu / 64] >> (cpu % 64) & 1);
}

int rmcd_qp_create(struct rmcd *d, struct rmcd_session *s, struct rmcd_qp **out)
{
	struct rmcd_qp *qp = calloc(1, sizeof(*qp));
	int r;

	if (!qp)
		return -ENOMEM;
	qp->wq_fd = qp->cq_fd = -1;
	qp->sess = s;
	qp->id = d->next_qp_id++;
	qp->wq_size = CORE_ALIGN_UP(sizeof(rmc_wq_t), PAGE_SIZE);
	qp->cq_size = CORE_ALIGN_UP(sizeof(rmc_cq_t), PAGE_SIZE);
	if ((r = core_shm_create("sonuma-wq", qp->wq_size, &qp->wq_fd)) ||
	    (r = core_shm_create("sonuma-cq", qp->cq_size, &qp->cq_fd)))
		goto fail;
	qp->wq = core_shm_map(qp->wq_fd, qp->wq_size);
	qp->cq = core_shm_map(qp->cq_fd, qp->cq_size);
	if (!qp->wq || !qp->cq) {
		r = -ENOMEM;
		goto fail;
	}
	/* Fresh memfd pages are zero: every entry has SR = 0, valid = 0.
	 * Both sides start expecting phase 1. */
	qp->depth = (uint16_t)d->cfg.queue_depth;
	qp->wq->depth = qp->depth;
	qp->wq->SR = 1;
	qp->wq->qp_id = qp->id;
	qp->wq->kal_fd = -1;
	/* A model without deadlines never reads post times: spare the
	 * application the TSC read in every post. */
	qp->wq->flags = d->model->no_deadline ? RMC_WQ_NO_TSTAMP : 0;
	/* The program counts the synchronous completions it sees later than
	 * this after their due time (rmc_cq_t.seen_late). */
	qp->wq->late_slack_tsc = d->model->no_deadline ? 0 :
				 d->late_slack_tsc     ? d->late_slack_tsc :
							 1;
	/* Its programs wait on the CPU of the RMC that serves them: they must
	 * let it run instead of spinning. */
	if (rmc_on_app_cpu(d, s->node))
		qp->wq->flags |= RMC_WQ_SHARED_CPU;
	qp->cq->depth = qp->depth;
	qp->cq->SR = 1;
	qp->wq_phase = 1;
	qp->cq_phase = 1;
	qp->src = (uint16_t)s->node->nid;
	qp->notify_tsc = s->node->notify_tsc;
	*out = qp;
	return 0;
fail:
	rmcd_qp_destroy(qp);
	return r;
}

void rmcd_qp_destroy(struct rmcd_qp *qp)
{
	if (!qp)
		return;
	if (qp->wq)
		munmap(qp->wq, qp->wq_size);
	if (qp->cq)
		munmap(qp->cq, qp->cq_size);
	if (qp->wq_fd >= 0)
		close(qp->wq_fd);
	if (qp->cq_fd >= 0)
		close(qp->cq_fd);
	free(qp);
}
