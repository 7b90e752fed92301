/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The ioctl ABI of /dev/rmc (the rmc.ko module), shared by the kernel and
 * user space.
 *
 * Every argument is a struct whose first field, size, is set by the caller to
 * sizeof the struct it passes.  The module answers -EINVAL to a size it does
 * not know; a later ABI version accepts the sizes of the earlier ones (fields
 * are only ever appended) and RMC_IOC_INFO reports the version it speaks.
 * Reserved fields and flags must be zero.  Every call returns 0 or -1 with
 * errno set.
 */
#ifndef RMC_IOCTL_H
#define RMC_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RMC_ABI_VERSION 1

#ifdef __cplusplus
#define RMC_STATIC_ASSERT(e, m) static_assert(e, m)
#else
#define RMC_STATIC_ASSERT(e, m) _Static_assert(e, m)
#endif

/* ---- RMC_IOC_INFO ------------------------------------------------------ */
#define RMC_INFO_XEN (1u << 0)	  /* running in a Xen domain */
#define RMC_INFO_XEN_PV (1u << 1) /* ... a paravirtualised one */
#define RMC_INFO_DOMID (1u << 2)  /* domid is known (see below) */

struct rmc_ioc_info {
	__u32 size;	   /* in: sizeof(struct rmc_ioc_info) */
	__u32 abi_version; /* out: RMC_ABI_VERSION of the module */
	__u32 mynid;	   /* out: the module parameter mynid */
	__u32 flags;	   /* out: RMC_INFO_* */
	/*
	 * out: the Xen domain id: 0 outside Xen and in dom0 (RMC_INFO_DOMID
	 * set).  In any other Xen guest the module does not read xenstore,
	 * leaves RMC_INFO_DOMID clear and domid 0: user space reads it with
	 * "xenstore-read domid".
	 */
	__u32 domid;
	/* out: grant entries this domain's table can hold at most
	 * (max grant frames x v1 entries per frame); 0 outside Xen. */
	__u32 grant_capacity;
	/* out: the longest region RMC_IOC_REGISTER accepts, in bytes. */
	__u64 max_region_len;
};
RMC_STATIC_ASSERT(sizeof(struct rmc_ioc_info) == 32, "rmc_ioc_info layout");

/* ---- RMC_IOC_REGISTER / RMC_IOC_UNREGISTER ----------------------------- */
/*
 * Pins the pages that cover [addr, addr + len) of the caller's memory, any
 * alignment and any allocator, charged to its RLIMIT_MEMLOCK (unless it has
 * CAP_IPC_LOCK).  The handle is a page-aligned cookie, never 0: mmap() of
 * /dev/rmc at offset handle, MAP_SHARED, up to npages pages, maps the same
 * pages (for the registrant's uid or root); addr's byte is at offset there.
 */
struct rmc_ioc_reg {
	__u32 size;   /* in: sizeof(struct rmc_ioc_reg) */
	__u32 flags;  /* in: 0 */
	__u64 addr;   /* in: start, any alignment */
	__u64 len;    /* in: bytes, 1 .. max_region_len */
	__u64 handle; /* out: mmap offset of the region */
	__u32 offset; /* out: addr's offset in its first page */
	__u32 npages; /* out: pages pinned */
};
RMC_STATIC_ASSERT(sizeof(struct rmc_ioc_reg) == 40, "rmc_ioc_reg layout");

/* Unpins a region of this file (and ends its grants); mappings of it keep
 * its pages until they go. */
struct rmc_ioc_unreg {
	__u32 size;   /* in: sizeof(struct rmc_ioc_unreg) */
	__u32 flags;  /* in: 0 */
	__u64 handle; /* in */
};
RMC_STATIC_ASSERT(sizeof(struct rmc_ioc_unreg) == 16, "rmc_ioc_unreg layout");

/* ---- RMC_IOC_GRANT (Xen only: -EOPNOTSUPP elsewhere) ------------------- */
/*
 * Grants a region of this file, read-write, to domain domid and returns one
 * grant reference, root_ref, of a read-only directory:
 *
 *   root page        struct rmc_grant_root, then ndesc __u32 references of
 *                    the descriptor pages;
 *   descriptor page  RMC_GRANT_REFS_PER_DESC __u32 references of data pages
 *                    (descriptor i holds those of data pages
 *                    i * RMC_GRANT_REFS_PER_DESC ...; the last one is
 *                    partly filled);
 *   data pages       the region's pages in order; the registered address is
 *                    at offset in the first one, len bytes in all.
 *
 * Pages are 4 KiB Xen pages; all fields are little-endian.  The peer maps
 * root_ref through /dev/xen/gntdev, then the descriptors, then the data.
 * nrefs is the number of grant entries used (npages + ndesc + 1).  A region
 * is granted at most once to each domain (-EBUSY); -ENOSPC when the grant
 * table cannot hold nrefs more entries.  Unregistering (or closing the file)
 * ends every grant of the region.
 */
#define RMC_DOMID_MAX 0x7fefu	    /* Xen reserves the ids above */
#define RMC_GRANT_MAGIC 0x524d4347u /* "RMCG" */
#define RMC_GRANT_PAGE_SIZE 4096u
#define RMC_GRANT_REFS_PER_DESC (RMC_GRANT_PAGE_SIZE / 4u)

struct rmc_grant_root {
	__u32 magic;	   /* RMC_GRANT_MAGIC */
	__u32 version;	   /* RMC_ABI_VERSION */
	__u64 len;	   /* bytes registered */
	__u32 offset;	   /* of the registered address in data page 0 */
	__u32 npages;	   /* data pages */
	__u32 ndesc;	   /* descriptor pages; their references follow */
	__u32 mynid;	   /* the granting node's mynid */
	__u32 desc_refs[]; /* ndesc entries */
};
RMC_STATIC_ASSERT(sizeof(struct rmc_grant_root) == 32, "rmc_grant_root layout");
#define RMC_GRANT_MAX_DESC ((RMC_GRANT_PAGE_SIZE - sizeof(struct rmc_grant_root)) / 4u)

struct rmc_ioc_grant {
	__u32 size;	/* in: sizeof(struct rmc_ioc_grant) */
	__u32 domid;	/* in: the peer domain, 0 .. RMC_DOMID_MAX */
	__u64 handle;	/* in: a region of this file */
	__u32 root_ref; /* out: grant reference of the root page */
	__u32 nrefs;	/* out: grant entries used */
};
RMC_STATIC_ASSERT(sizeof(struct rmc_ioc_grant) == 24, "rmc_ioc_grant layout");

/* ---- numbers ----------------------------------------------------------- */
#define RMC_IOC_MAGIC 0xB9
#define RMC_IOC_INFO _IOWR(RMC_IOC_MAGIC, 0x40, struct rmc_ioc_info)
#define RMC_IOC_REGISTER _IOWR(RMC_IOC_MAGIC, 0x41, struct rmc_ioc_reg)
#define RMC_IOC_UNREGISTER _IOWR(RMC_IOC_MAGIC, 0x42, struct rmc_ioc_unreg)
#define RMC_IOC_GRANT _IOWR(RMC_IOC_MAGIC, 0x43, struct rmc_ioc_grant)

#endif /* RMC_IOCTL_H */
