/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "core.h"

int core_numa_domains(void)
{
	if (numa_available() < 0)
		return 1;
	int n = numa_max_node() + 1;
	return n > 0 ? n : 1;
}

int core_numa_cpus(int domain, int *cpus, int max)
{
	int n = 0;

	if (numa_available() < 0) {
		if (domain != 0)
			return -EINVAL;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		for (int c = 0; c < ncpu && n < max; c++)
			cpus[n++] = c;
		return n;
	}
	struct bitmask *bm = numa_allocate_cpumask();
	if (!bm)
		return -ENOMEM;
	if (numa_node_to_cpus(domain, bm) < 0) {
		numa_free_cpumask(bm);
		return -EINVAL;
	}
	for (unsigned c = 0; c < bm->size && n < max; c++)
		if (numa_bitmask_isbitset(bm, c))
			cpus[n++] = (int)c;
	numa_free_cpumask(bm);
	return n;
}

int core_numa_bind(void *addr, size_t len, int domain)
{
	if (numa_available() < 0)
		return domain == 0 ? 0 : -EINVAL;
	unsigned long mask[16] = { 0 };
	if (domain < 0 || domain >= (int)(sizeof(mask) * 8))
		return -EINVAL;
	mask[domain / (8 * sizeof(long))] |= 1ul << (domain % (8 * sizeof(long)));
	if (mbind(addr, len, MPOL_BIND, mask, sizeof(mask) * 8, MPOL_MF_STRICT) < 0)
		return -errno;
	return 0;
}

int core_numa_page_node(void *addr)
{
	int node = -1;

	if (get_mempolicy(&node, NULL, 0, addr, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -errno;
	return node;
}

int core_cpu_domain(int cpu)
{
	if (numa_available() < 0)
		return 0;
	int d = numa_node_of_cpu(cpu);
	return d < 0 ? -EINVAL : d;
}

int core_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
