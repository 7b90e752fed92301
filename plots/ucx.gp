# SPDX-License-Identifier: MIT
# ucx-compare: sonuma on the none model beside UCX's ucx_perftest over shared
# memory, on the same two cores (experiments/compare-ucx.sh).  Latency: the
# emulator's sync read (p50, band to p99), UCX's one-sided get (one at a
# time) and one core-to-core round trip (2 x ucp_put_lat); bandwidth: async
# read/write with N in flight against ucp_get/ucp_put_bw with N in flight.
# Run by plots/plot.sh.
load here.'/common.gp'

set logscale y 10
uc(col) = column(col) / 1000.0   # ns -> us
eval term(7.5, 3.6)
set output out('ucx-compare')
set multiplot title sprintf('sonuma (none model) vs UCX over shared memory (UCX\_TLS=%s)', ucx_tls) font ',12'

eval panel_left
eval half_key(0.29, 2)
eval panel_title('latency, one request at a time')
eval ytics_ucx_lat
set ylabel 'Latency (µs)'
plot ucx_file using 'size':(uc('sonuma_read_sync_p50_ns')):(uc('sonuma_read_sync_p99_ns')) \
	with filledcurves lc rgb c_read title 'sonuma p50 to p99', \
     ucx_file using 'size':(uc('sonuma_read_sync_p50_ns')) with linespoints lw 2 pt 7 ps 0.9 \
	lc rgb c_read title 'sonuma sync read (p50)', \
     ucx_file using 'size':(uc('ucx_put_rtt_ns')) with linespoints lw 2 pt 5 ps 0.8 dt (8,4) \
	lc rgb '#222222' title '2 × ucp\_put\_lat (round trip)', \
     ucx_file using 'size':(uc('ucx_get_p50_ns')) with linespoints lw 2 pt 9 ps 0.9 \
	lc rgb c_link title 'ucp\_get, 1 in flight'

eval panel_right
eval half_key(0.79, 2)
eval panel_title(sprintf('bandwidth, %s in flight', ucx_outstanding))
eval ytics_ucx_bw
set ylabel 'Bandwidth (GB/s, 10^9 B/s)'
plot ucx_file using 'size':'sonuma_read_async_GBps' with linespoints lw 2 pt 7 ps 0.9 \
	lc rgb c_read title 'sonuma async read', \
     ucx_file using 'size':'ucx_get_GBps' with linespoints lw 2 pt 9 ps 0.9 \
	lc rgb c_link title 'ucp\_get', \
     ucx_file using 'size':'sonuma_write_async_GBps' with linespoints lw 2 pt 5 ps 0.8 \
	lc rgb c_write title 'sonuma async write', \
     ucx_file using 'size':'ucx_put_GBps' with linespoints lw 2 pt 11 ps 0.9 \
	lc rgb '#CC79A7' title 'ucp\_put\_bw'
unset multiplot
