// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * rmc.ko: /dev/rmc, the kernel side of soNUMA's remote memory controller.
 *
 * A process registers a range of its memory (RMC_IOC_REGISTER): the module
 * pins the pages for the long term, charges them to the caller's
 * RLIMIT_MEMLOCK and returns a handle.  Another process of the same user (or
 * root) maps the same pages with mmap(handle); under Xen, RMC_IOC_GRANT
 * grants them to another domain.  See README.md and uapi/rmc_ioctl.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pfn_t.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <xen/xen.h>

#include "rmc.h"

static unsigned int mynid;
module_param(mynid, uint, 0444);
MODULE_PARM_DESC(mynid, "this node's id, reported by RMC_IOC_INFO");

static int gid = -1;
module_param(gid, int, 0444);
MODULE_PARM_DESC(gid, "group allowed to open /dev/rmc besides root (-1: root only)");

static unsigned int max_region_mb = 1024;
module_param(max_region_mb, uint, 0444);
MODULE_PARM_DESC(max_region_mb, "longest region RMC_IOC_REGISTER accepts, in MiB (1..65536)");

#define RMC_MAX_REGION_MB 65536u /* npages stays well inside a __u32 */

static struct rmc_dev rmc_dev;

/* ---- regions ------------------------------------------------------------ */

/* Charges npages to mm's pinned_vm within RLIMIT_MEMLOCK, as RDMA's umem
 * does; the counter is atomic, so uncharging needs no lock of that mm. */
static int rmc_charge(struct mm_struct *mm, unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	s64 pinned = atomic64_add_return(npages, &mm->pinned_vm);

	if (pinned > limit && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(npages, &mm->pinned_vm);
		return -ENOMEM;
	}
	return 0;
}

static void rmc_uncharge(struct mm_struct *mm, unsigned long npages)
{
	atomic64_sub(npages, &mm->pinned_vm);
}

/* The last reference: no file, no VMA and no grant refers to the region. */
static void rmc_region_release(struct kref *ref)
{
	struct rmc_region *r = container_of(ref, struct rmc_region, ref);

	unpin_user_pages_dirty_lock(r->pages, r->npages, true);
	rmc_uncharge(r->mm, r->npages);
	mmdrop(r->mm);
	kvfree(r->pages);
	kfree(r);
}

static void rmc_region_put(struct rmc_region *r)
{
	kref_put(&r->ref, rmc_region_release);
}

/* Takes r out of its file and of the registry and ends its grants; the
 * caller holds f->lock and then drops the file's reference. */
static void rmc_region_unpublish(struct rmc_file *f, struct rmc_region *r)
{
	struct rmc_grant *g, *tmp;

	list_del(&r->node);
	mutex_lock(&f->dev->lock);
	idr_remove(&f->dev->regions, r->handle >> PAGE_SHIFT);
	mutex_unlock(&f->dev->lock);
	list_for_each_entry_safe(g, tmp, &r->grants, node)
	{
		list_del(&g->node);
		rmc_xen_revoke(r, g);
	}
}

static struct rmc_region *rmc_file_find(struct rmc_file *f, u64 handle)
{
	struct rmc_region *r;

	list_for_each_entry(r, &f->regions, node) if (r->handle == handle) return r;
	return NULL;
}

static bool rmc_file_overlaps(struct rmc_file *f, u64 addr, u64 len)
{
	struct rmc_region *r;

	list_for_each_entry(r, &f->regions,
			    node) if (addr < r->addr + r->len && r->addr < addr + len) return true;
	return false;
}

/* A handle as the ioctls take it: non-zero and page-aligned. */
static int rmc_check_handle(u64 handle)
{
	if (!handle || offset_in_page(handle))
		return -EINVAL;
	return 0;
}

/* The region of f with this handle, with f->lock held: 0, -EINVAL for a
 * handle no ioctl takes, or -ENOENT (the lock released) when f has none. */
static int rmc_lock_region(struct rmc_file *f, u64 handle, struct rmc_region **r)
{
	int ret = rmc_check_handle(handle);

	if (ret)
		return ret;
	mutex_lock(&f->lock);
	*r = rmc_file_find(f, handle);
	if (!*r) {
		mutex_unlock(&f->lock);
		return -ENOENT;
	}
	return 0;
}

/* ---- ioctls --------------------------------------------------------------- */

/* An ioctl's argument of size bytes, copied in: 0, -EFAULT, or -EINVAL when
 * its size field (the first __u32 of each of rmc_ioctl.h's structs) is not
 * size. */
static int rmc_copy_in(void *req, const void __user *argp, u32 size)
{
	if (copy_from_user(req, argp, size))
		return -EFAULT;
	return *(u32 *)req == size ? 0 : -EINVAL;
}

static long rmc_ioc_info(struct rmc_file *f, void __user *argp)
{
	struct rmc_ioc_info info;
	u32 size;

	if (get_user(size, (u32 __user *)argp))
		return -EFAULT;
	if (size != sizeof(info))
		return -EINVAL;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	info.abi_version = RMC_ABI_VERSION;
	info.mynid = f->dev->mynid;
	info.max_region_len = f->dev->max_region_len;
	rmc_xen_info(&info);

	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static int rmc_pin(struct rmc_region *r, unsigned long start)
{
	unsigned long done = 0;
	int n;

	while (done < r->npages) {
		n = pin_user_pages_fast(start + done * PAGE_SIZE,
					min_t(unsigned long, r->npages - done, INT_MAX),
					FOLL_WRITE | FOLL_LONGTERM, r->pages + done);
		if (n <= 0) {
			if (done)
				unpin_user_pages(r->pages, done);
			return n ? n : -EFAULT;
		}
		done += n;
	}
	return 0;
}

static long rmc_ioc_register(struct rmc_file *f, void __user *argp)
{
	struct rmc_dev *dev = f->dev;
	struct rmc_ioc_reg req;
	struct rmc_region *r;
	unsigned long first;
	int id, ret;

	ret = rmc_copy_in(&req, argp, sizeof(req));
	if (ret)
		return ret;
	if (req.flags || !req.len || req.len > dev->max_region_len)
		return -EINVAL;
	if (req.addr + req.len < req.addr)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(req.addr), req.len))
		return -EFAULT;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	kref_init(&r->ref);
	INIT_LIST_HEAD(&r->grants);
	r->addr = req.addr;
	r->len = req.len;
	r->uid = current_euid();
	first = req.addr & PAGE_MASK;
	r->npages = (PAGE_ALIGN(req.addr + req.len) - first) >> PAGE_SHIFT;
	r->pages = kvmalloc_array(r->npages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages) {
		ret = -ENOMEM;
		goto err_free;
	}

	mutex_lock(&f->lock);
	if (rmc_file_overlaps(f, req.addr, req.len)) {
		ret = -EBUSY;
		goto err_unlock;
	}
	r->mm = current->mm;
	ret = rmc_charge(r->mm, r->npages);
	if (ret)
		goto err_unlock;
	ret = rmc_pin(r, first);
	if (ret)
		goto err_uncharge;
	mmgrab(r->mm);

	/* Reserve the handle; the region becomes visible to mmap only once
	 * the caller has it. */
	mutex_lock(&dev->lock);
	id = idr_alloc_cyclic(&dev->regions, NULL, 1, INT_MAX, GFP_KERNEL);
	mutex_unlock(&dev->lock);
	if (id < 0) {
		ret = id;
		goto err_unpin;
	}
	r->handle = (u64)id << PAGE_SHIFT;

	req.handle = r->handle;
	req.offset = offset_in_page(req.addr);
	req.npages = r->npages;
	if (copy_to_user(argp, &req, sizeof(req))) {
		ret = -EFAULT;
		goto err_idr;
	}

	mutex_lock(&dev->lock);
	idr_replace(&dev->regions, r, id);
	mutex_unlock(&dev->lock);
	list_add(&r->node, &f->regions);
	mutex_unlock(&f->lock);
	return 0;

err_idr:
	mutex_lock(&dev->lock);
	idr_remove(&dev->regions, id);
	mutex_unlock(&dev->lock);
err_unpin:
	mmdrop(r->mm);
	unpin_user_pages(r->pages, r->npages);
err_uncharge:
	rmc_uncharge(r->mm, r->npages);
err_unlock:
	mutex_unlock(&f->lock);
	kvfree(r->pages);
err_free:
	kfree(r);
	return ret;
}

static long rmc_ioc_unregister(struct rmc_file *f, void __user *argp)
{
	struct rmc_ioc_unreg req;
	struct rmc_region *r;
	int ret;

	ret = rmc_copy_in(&req, argp, sizeof(req));
	if (ret)
		return ret;
	if (req.flags)
		return -EINVAL;
	ret = rmc_lock_region(f, req.handle, &r);
	if (ret)
		return ret;
	rmc_region_unpublish(f, r);
	mutex_unlock(&f->lock);

	rmc_region_put(r);
	return 0;
}

static long rmc_ioc_grant(struct rmc_file *f, void __user *argp)
{
	struct rmc_ioc_grant req;
	struct rmc_region *r;
	struct rmc_grant *g;
	int ret;

	ret = rmc_copy_in(&req, argp, sizeof(req));
	if (ret)
		return ret;
	if (!xen_domain())
		return -EOPNOTSUPP;
	if (req.domid > RMC_DOMID_MAX)
		return -EINVAL;
	ret = rmc_lock_region(f, req.handle, &r);
	if (ret)
		return ret;
	list_for_each_entry(g, &r->grants, node)
	{
		if (g->domid == req.domid) {
			ret = -EBUSY;
			goto out_unlock;
		}
	}
	ret = rmc_xen_grant(r, req.domid, f->dev->mynid, &g);
	if (ret)
		goto out_unlock;

	req.root_ref = g->root_ref;
	req.nrefs = g->nrefs;
	if (copy_to_user(argp, &req, sizeof(req))) {
		ret = -EFAULT;
		goto err_revoke;
	}
	list_add(&g->node, &r->grants);
	mutex_unlock(&f->lock);
	return 0;

err_revoke:
	rmc_xen_revoke(r, g);
out_unlock:
	mutex_unlock(&f->lock);
	return ret;
}

static long rmc_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rmc_file *f = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case RMC_IOC_INFO:
		return rmc_ioc_info(f, argp);
	case RMC_IOC_REGISTER:
		return rmc_ioc_register(f, argp);
	case RMC_IOC_UNREGISTER:
		return rmc_ioc_unregister(f, argp);
	case RMC_IOC_GRANT:
		return rmc_ioc_grant(f, argp);
	default:
		return -ENOTTY;
	}
}

/* ---- mmap ----------------------------------------------------------------- */

static void rmc_vm_open(struct vm_area_struct *vma)
{
	struct rmc_region *r = vma->vm_private_data;

	kref_get(&r->ref);
}

static void rmc_vm_close(struct vm_area_struct *vma)
{
	rmc_region_put(vma->vm_private_data);
}

static vm_fault_t rmc_vm_fault(struct vm_fault *vmf)
{
	struct rmc_region *r = vmf->vma->vm_private_data;
	unsigned long i = vmf->pgoff - (r->handle >> PAGE_SHIFT);

	if (i >= r->npages)
		return VM_FAULT_SIGBUS;
	return vmf_insert_mixed(vmf->vma, vmf->address, page_to_pfn_t(r->pages[i]));
}

static const struct vm_operations_struct rmc_vm_ops = {
	.open = rmc_vm_open,
	.close = rmc_vm_close,
	.fault = rmc_vm_fault,
};

/*
 * Maps a region, from its first page, into the caller.  The pages may be
 * anonymous, which vm_insert_page() refuses, so they go in on first touch as
 * special entries of a VM_MIXEDMAP mapping: the mapping takes no reference
 * of its own, and the VMA's reference on the region keeps the pages pinned.
 */
static int rmc_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rmc_file *f = file->private_data;
	struct rmc_dev *dev = f->dev;
	struct rmc_region *r;
	int ret = 0;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	mutex_lock(&dev->lock);
	r = idr_find(&dev->regions, vma->vm_pgoff);
	if (!r)
		ret = -ENOENT;
	else if (!uid_eq(current_euid(), r->uid) && !capable(CAP_SYS_ADMIN))
		ret = -EACCES;
	else if (vma_pages(vma) > r->npages)
		ret = -EINVAL;
	else
		kref_get(&r->ref);
	mutex_unlock(&dev->lock);
	if (ret)
		return ret;

	vma->vm_flags |= VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_private_data = r;
	vma->vm_ops = &rmc_vm_ops;
	return 0;
}

/* ---- open / release ----------------------------------------------------- */

static bool rmc_may_open(struct rmc_dev *dev)
{
	if (capable(CAP_SYS_ADMIN))
		return true;
	return gid_valid(dev->gid) && in_group_p(dev->gid);
}

static int rmc_open(struct inode *inode, struct file *file)
{
	/* misc_open() left our miscdevice in private_data. */
	struct rmc_dev *dev = container_of(file->private_data, struct rmc_dev, misc);
	struct rmc_file *f;

	if (!rmc_may_open(dev))
		return -EACCES;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->dev = dev;
	mutex_init(&f->lock);
	INIT_LIST_HEAD(&f->regions);
	file->private_data = f;
	return 0;
}

static int rmc_release(struct inode *inode, struct file *file)
{
	struct rmc_file *f = file->private_data;
	struct rmc_region *r, *tmp;

	mutex_lock(&f->lock);
	list_for_each_entry_safe(r, tmp, &f->regions, node)
	{
		rmc_region_unpublish(f, r);
		rmc_region_put(r);
	}
	mutex_unlock(&f->lock);
	mutex_destroy(&f->lock);
	kfree(f);
	return 0;
}

static const struct file_operations rmc_fops = {
	.owner = THIS_MODULE,
	.open = rmc_open,
	.release = rmc_release,
	.unlocked_ioctl = rmc_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = rmc_mmap,
	.llseek = noop_llseek,
};

/* ---- module --------------------------------------------------------------- */

static int __init rmc_init(void)
{
	struct rmc_dev *dev = &rmc_dev;
	int ret;

	if (!max_region_mb || max_region_mb > RMC_MAX_REGION_MB) {
		pr_err("max_region_mb=%u is outside 1..%u\n", max_region_mb, RMC_MAX_REGION_MB);
		return -EINVAL;
	}
	dev->mynid = mynid;
	dev->gid = gid < 0 ? INVALID_GID : make_kgid(&init_user_ns, gid);
	if (gid >= 0 && !gid_valid(dev->gid)) {
		pr_err("gid=%d is not a valid group\n", gid);
		return -EINVAL;
	}
	dev->max_region_len = (u64)max_region_mb << 20;
	mutex_init(&dev->lock);
	idr_init(&dev->regions);

	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = "rmc";
	dev->misc.fops = &rmc_fops;
	/* Everyone may try; rmc_open() lets in root and the gid group. */
	dev->misc.mode = 0666;
	ret = misc_register(&dev->misc);
	if (ret)
		goto err_idr;

	pr_info("node %u ready (/dev/rmc, ABI %u)\n", dev->mynid, RMC_ABI_VERSION);
	return 0;

err_idr:
	idr_destroy(&dev->regions);
	mutex_destroy(&dev->lock);
	return ret;
}

static void __exit rmc_exit(void)
{
	struct rmc_dev *dev = &rmc_dev;

	/* Every file is closed (they hold the module), so is every region. */
	misc_deregister(&dev->misc);
	idr_destroy(&dev->regions);
	mutex_destroy(&dev->lock);
}

module_init(rmc_init);
module_exit(rmc_exit);

MODULE_DESCRIPTION("soNUMA remote memory controller: memory registration and Xen grants");
MODULE_LICENSE("Dual MIT/GPL");
