// SPDX-License-Identifier: MIT
// A C++17 application of the soNUMA API: attaches to its node (SONUMA_NODE,
// SONUMA_RUNDIR), registers a queue pair, a local buffer and its context,
// reads 4 KiB from node SNID's context (which the test filled with byte
// (i * 7 + 3) & 0xff at offset i), writes 4 KiB of (i * 13 + 1) & 0xff at
// offset 4096 there and reads them back.  Prints "cxx_app: ok ..." and
// exits 0 when every byte is right.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sonuma.h"

namespace
{

constexpr std::size_t kBytes = 4096;

int fail(const char *what, int r)
{
	std::fprintf(stderr, "cxx_app: %s: %s\n", what, r < 0 ? std::strerror(-r) : "wrong data");
	return 1;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "Usage: cxx_app SNID\n");
		return 2;
	}
	const int snid = std::atoi(argv[1]);

	int fd = kal_open(RMC_DEV);
	if (fd < 0)
		return fail("kal_open", fd);
	struct kal_info info {};
	int r = kal_info(fd, &info);
	if (r)
		return fail("kal_info", r);

	rmc_wq_t *wq = nullptr;
	rmc_cq_t *cq = nullptr;
	uint8_t *lbuff = nullptr;
	uint8_t *ctx = nullptr;
	if ((r = kal_reg_wq(fd, &wq)))
		return fail("kal_reg_wq", r);
	if ((r = kal_reg_cq(fd, &cq)))
		return fail("kal_reg_cq", r);
	if ((r = kal_reg_lbuff(fd, &lbuff, 2)))
		return fail("kal_reg_lbuff", r);
	if ((r = kal_reg_ctx(fd, &ctx, 1)))
		return fail("kal_reg_ctx", r);

	std::memset(lbuff, 0xee, 2 * kBytes);
	if ((r = rmc_rread_sync(wq, cq, lbuff, 0, snid, 0, 0, kBytes)))
		return fail("rmc_rread_sync", r);
	for (std::size_t i = 0; i < kBytes; i++)
		if (lbuff[i] != static_cast<uint8_t>(i * 7 + 3))
			return fail("read", 0);

	for (std::size_t i = 0; i < kBytes; i++)
		lbuff[i] = static_cast<uint8_t>(i * 13 + 1);
	if ((r = rmc_rwrite_sync(wq, cq, lbuff, 0, snid, 0, kBytes, kBytes)))
		return fail("rmc_rwrite_sync", r);

	int tid = rmc_rread_async(wq, lbuff, kBytes, snid, 0, kBytes, kBytes);
	if (tid < 0)
		return fail("rmc_rread_async", tid);
	int done = 0;
	auto handler = [](uint8_t, wq_entry_t *head, void *owner) {
		*static_cast<int *>(owner) = head->status == RMC_OK ? 1 : -1;
	};
	for (uint64_t spins = 0; !done;) {
		if (rmc_drain_cq(wq, cq, handler, &done))
			continue;
		if (++spins % RMC__SPIN_CHECK == 0 && (r = rmc__wait_slow(wq, &spins)))
			return fail("waiting for the completion", r);
		sonuma_cpu_relax();
	}
	if (done < 0 || std::memcmp(lbuff, lbuff + kBytes, kBytes))
		return fail("read back", 0);

	std::string model(info.model);
	std::printf("cxx_app: ok (node %u of %u, read and wrote node %d, model %s)\n", info.nid,
		    info.nodes, snid, model.c_str());
	kal_close(fd);
	return 0;
}
