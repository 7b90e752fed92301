# SPDX-License-Identifier: MIT
# Latency vs size, log-log.  latency-CONFIG: per model, the measured median
# (p50) with a band up to p99, beside the model's target (sync | async);
# latency-all: every model's p50 against its target (sync read | write).
# Run by plots/plot.sh.
load here.'/common.gp'

set logscale y 10
set ylabel 'Latency (µs)'

do for [i=1:nconf] {
	eval term(7.5, 3.6)
	set output out('latency-'.conf[i])
	set multiplot title sprintf('Latency vs size: %s  (%s)', confenh[i], desc[i]) font ',12'
	do for [mode in 'sync async'] {
		if (mode eq 'sync') {
			eval panel_left
			eval shared_key(2)
			eval panel_title('sync: one request at a time')
			eval ytics_lat_sync[i]
		} else {
			eval ytics_lat_async[i]
			eval panel_right
			eval panel_title(sprintf('async: %s requests in flight', outst[i]))
		}
		plot for [op in 'read write'] csv(i, op, mode) \
			using 'size':(us('t_p50_ns')):(us('t_p99_ns')) with filledcurves \
			lc rgb opcolor(op) title op.': p50 to p99', \
		     for [op in 'read write'] csv(i, op, mode) \
			using 'size':(us('t_p50_ns')) with linespoints lw 2 pt 7 ps 0.9 \
			lc rgb opcolor(op) title op.': p50 measured', \
		     for [op in 'read write'] csv(i, op, mode) \
			using 'size':(hastarget[i] && !(sametarget[i] && op eq 'write') ? us('target_ns') : NaN) \
			with linespoints lw 2 dt (8,4) pt 4 ps 0.8 \
			lc rgb (sametarget[i] ? '#222222' : opcolor(op)) \
			title (!hastarget[i] ? '' : sametarget[i] ? (op eq 'read' ? 'model target (read = write)' : '') : op.': model target'), \
		     (!hastarget[i] && floor_file ne '' ? floor_file : empty) using 1:2 \
			with lines lw 2 dt (2,2) lc rgb c_floor \
			title ((!hastarget[i] && floor_file ne '') ? 'calibrated floor (read)' : '')
	}
	unset multiplot
	unset label 99
}

eval term(7.5, 3.6)
set output out('latency-all')
set multiplot title 'Median latency (p50, solid) of every model against its target (dashed)' font ',12'
do for [op in 'read write'] {
	if (op eq 'read') {
		eval panel_left
		eval shared_key(2)
	} else {
		eval panel_right
	}
	eval panel_title('sync '.op)
	eval (op eq 'read' ? ytics_latall_read : ytics_latall_write)
	plot for [i=1:nconf] csv(i, op, 'sync') using 'size':(us('t_p50_ns')) \
		with linespoints lw 2 pt (4+i) ps 0.9 lc rgb color[i] title confenh[i], \
	     for [i=1:nconf] csv(i, op, 'sync') using 'size':(hastarget[i] ? us('target_ns') : NaN) \
		with lines lw 1.5 dt (8,4) lc rgb color[i] notitle, \
	     (floor_file ne '' ? floor_file : empty) using 1:2 with lines lw 2 dt (2,2) lc rgb c_floor \
		title (floor_file ne '' ? 'calibrated floor (read)' : '')
}
unset multiplot
