# SPDX-License-Identifier: MIT
#
# check_values.awk: the value check of the original's flow (flow.sh, and the
# rmc.ko guest test tests/qemu/kmod_rmcd.sh).  Reads the output of
# bench_sync or bench_async reading node 1's context, where page i was set
# to i + off, and passes (exit 0) when each of the 4096 pages printed
#   page I read this number: V
# exactly once, with V = I + off.  Prints what is wrong on stderr.
#
#   awk -v off=OFFSET -f check_values.awk FILE
/read this number:/ {
	n++
	if ($NF != $2 + off) {
		bad++
		if (bad < 5)
			print "page " $2 ": " $NF " expected " $2 + off > "/dev/stderr"
	}
	seen[$2] = 1
}
END {
	for (i = 0; i < 4096; i++)
		if (!(i in seen))
			missing++
	if (n != 4096 || bad || missing) {
		printf "%d values, %d wrong, %d pages missing\n", n, bad, missing > "/dev/stderr"
		exit 1
	}
}
