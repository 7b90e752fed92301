# SPDX-License-Identifier: MIT
# Bandwidth vs size.  bandwidth-CONFIG: per model, read | write, async and
# sync, with the configured link bandwidth (link models) and the bound the
# model's target latency sets (N requests in flight: N x size / target, at
# most the link's); bandwidth-all: async bandwidth of every model.
# Run by plots/plot.sh.
load here.'/common.gp'

set logscale y 10
set ylabel 'Bandwidth (GB/s, 10^9 B/s)'
bound(n, link) = column('target_ns') > 0 ? \
	(link > 0 && n * column('size') / column('target_ns') > link ? link : n * column('size') / column('target_ns')) : NaN

do for [i=1:nconf] {
	eval term(7.5, 3.6)
	set output out('bandwidth-'.conf[i])
	set multiplot title sprintf('Bandwidth vs size: %s  (%s)', confenh[i], desc[i]) font ',12'
	W = outst[i] eq '' ? 1 : outst[i] + 0
	do for [op in 'read write'] {
		if (op eq 'read') {
			eval panel_left
			eval shared_key(2)
		} else {
			eval panel_right
		}
		eval panel_title(op)
		eval (op eq 'read' ? ytics_bw_read[i] : ytics_bw_write[i])
		plot csv(i, op, 'async') using 'size':(gbps('bw_MBps')) with linespoints lw 2 pt 7 ps 0.9 \
			lc rgb c_async title sprintf('async, %d in flight', W), \
		     csv(i, op, 'sync') using 'size':(gbps('bw_MBps')) with linespoints lw 2 pt 6 ps 0.9 \
			lc rgb c_sync title 'sync', \
		     csv(i, op, 'async') using 'size':(hastarget[i] ? bound(W, linkbw[i]) : NaN) with lines \
			lw 1.5 dt (8,4) lc rgb c_bound title (hastarget[i] ? sprintf('model bound, %d in flight', W) : ''), \
		     csv(i, op, 'sync') using 'size':(hastarget[i] ? bound(1, linkbw[i]) : NaN) with lines \
			lw 1.5 dt (2,2) lc rgb c_bound title (hastarget[i] ? 'model bound, sync' : ''), \
		     (linkbw[i] > 0 ? linkbw[i] : NaN) with lines lw 2.5 lc rgb c_link \
			title (linkbw[i] > 0 ? sprintf('link bandwidth, %g GB/s', linkbw[i]) : '')
	}
	unset multiplot
	unset label 99
}

eval term(7.5, 3.6)
set output out('bandwidth-all')
set multiplot title 'Async bandwidth of every model (solid); configured link bandwidth (dashed)' font ',12'
do for [op in 'read write'] {
	if (op eq 'read') {
		eval panel_left
		eval shared_key(2)
	} else {
		eval panel_right
	}
	eval panel_title('async '.op)
	eval (op eq 'read' ? ytics_bwall_read : ytics_bwall_write)
	plot for [i=1:nconf] csv(i, op, 'async') using 'size':(gbps('bw_MBps')) \
		with linespoints lw 2 pt (4+i) ps 0.9 lc rgb color[i] title confenh[i], \
	     for [i=1:nconf] (linkbw[i] > 0 ? linkbw[i] : NaN) with lines lw 1.5 dt (8,4) \
		lc rgb color[i] notitle
}
unset multiplot
