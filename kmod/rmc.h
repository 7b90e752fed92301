/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * rmc.ko internals: the device, the state of an open file, a registered
 * region and its Xen grants.
 *
 * Locking: rmc_file.lock, then rmc_dev.lock.  A region is reachable from its
 * file's list (under the file's lock) and from the device's registry (under
 * the device's lock, for mmap by another process).  Its reference count holds
 * the pinned pages: one reference for the file until unregister or close, one
 * per VMA that maps it.
 */
#ifndef RMC_H
#define RMC_H

#include <linux/idr.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/uidgid.h>

#include "uapi/rmc_ioctl.h"

struct rmc_dev {
	struct miscdevice misc;
	u32 mynid;
	kgid_t gid;	    /* may open besides root; INVALID_GID: none */
	u64 max_region_len; /* bytes */
	struct mutex lock;  /* protects regions */
	struct idr regions; /* handle >> PAGE_SHIFT -> struct rmc_region */
};

struct rmc_file {
	struct rmc_dev *dev;
	struct mutex lock;	  /* protects regions and their grants */
	struct list_head regions; /* struct rmc_region.node */
};

struct rmc_region {
	struct kref ref;
	struct list_head node; /* in rmc_file.regions */
	u64 handle;	       /* page-aligned mmap offset, never 0 */
	u64 addr, len;	       /* as registered */
	unsigned long npages;
	struct page **pages;	 /* pinned, FOLL_LONGTERM */
	struct mm_struct *mm;	 /* charged npages of pinned_vm; mmgrab()ed */
	kuid_t uid;		 /* the registrant's effective uid */
	struct list_head grants; /* struct rmc_grant.node */
};

/* A region granted to one Xen domain: root page -> descriptors -> data. */
struct rmc_grant {
	struct list_head node; /* in rmc_region.grants */
	u16 domid;
	u32 root_ref;
	u32 nrefs;
	struct page *root; /* struct rmc_grant_root + descriptor refs */
	u32 *refs;	   /* npages data refs, then ndesc descriptor refs */
	unsigned int ndesc;
	struct page *desc[]; /* __u32 refs of data pages */
};

#ifdef CONFIG_XEN
void rmc_xen_info(struct rmc_ioc_info *info);
int rmc_xen_grant(struct rmc_region *r, u16 domid, u32 mynid, struct rmc_grant **out);
void rmc_xen_revoke(struct rmc_region *r, struct rmc_grant *g);
#else
static inline void rmc_xen_info(struct rmc_ioc_info *info)
{
	info->flags |= RMC_INFO_DOMID;
}

static inline int rmc_xen_grant(struct rmc_region *r, u16 domid, u32 mynid, struct rmc_grant **out)
{
	return -EOPNOTSUPP;
}

static inline void rmc_xen_revoke(struct rmc_region *r, struct rmc_grant *g)
{
}
#endif

#endif /* RMC_H */
