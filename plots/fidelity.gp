# SPDX-License-Identifier: MIT
# Fidelity: error of the measured median against the model's target, per
# size and model, sync | async.  Filled points: the target is above the
# calibrated floor (the size counts in the summary); open points: below it
# (this machine cannot go that fast; such completions are late).  Errors
# above err_max are drawn on the top edge as triangles.  Run by plot.sh.
load here.'/common.gp'

fid(i, op, mode) = work.sprintf('/fid-%d-%s-%s.dat', i, op, mode)
set ylabel 'Error of p50 vs target (%)'
unset logscale y
set mytics 2
set yrange [-100<*:*<err_max]
set xrange [size_min / 1.25 : size_max * 1.25]
set samples 2
set offsets 0, 0, graph 0.06, graph 0.06

eval term(7.5, 3.7)
set output out('fidelity')
set multiplot title 'Fidelity: (p50 − target) / target per model' font ',12'
set label 98 sprintf('filled: target above the calibrated floor; open: below it; ▲: off scale (> %d %%)', err_max) \
	at screen 0.5, screen 0.025 center font ',9' textcolor rgb '#444444'
do for [mode in 'sync async'] {
	if (mode eq 'sync') {
		eval panel_left
		eval shared_key(2)
		eval panel_title('sync: one request at a time')
	} else {
		eval panel_right
		unset label 98
		eval panel_title('async: against the unloaded latency')
	}
	if (ntargets == 0) {
		set label 1 'no model with a target in these results' at graph 0.5, 0.5 center
		plot NaN notitle
		unset label 1
	} else {
	plot '+' using 1:(-10):(10) with filledcurves lc rgb '#009E73' fs transparent solid 0.15 \
		title '±10 %', \
	     0 with lines lw 1 lc rgb '#555555' notitle, \
	     NaN with lines lw 2 lc rgb '#222222' title 'read', \
	     NaN with lines lw 2 dt (8,4) lc rgb '#222222' title 'write', \
	     for [i=1:nconf] (hastarget[i] ? fid(i, 'read', mode) : empty) using 1:2 with lines lw 2 \
		lc rgb color[i] title (hastarget[i] ? confenh[i] : ''), \
	     for [i=1:nconf] (hastarget[i] ? fid(i, 'write', mode) : empty) using 1:2 with lines lw 2 \
		dt (8,4) lc rgb color[i] notitle, \
	     for [i=1:nconf] for [op in 'read write'] (hastarget[i] ? fid(i, op, mode) : empty) \
		using 1:(($3 > 0 && $4 < 1) ? $2 : NaN) with points pt 7 ps 0.9 lc rgb color[i] notitle, \
	     for [i=1:nconf] for [op in 'read write'] (hastarget[i] ? fid(i, op, mode) : empty) \
		using 1:(($3 < 1 && $4 < 1) ? $2 : NaN) with points pt 6 ps 0.9 lc rgb color[i] notitle, \
	     for [i=1:nconf] for [op in 'read write'] (hastarget[i] ? fid(i, op, mode) : empty) \
		using 1:($4 > 0 ? $2 : NaN) with points pt 9 ps 1.3 lc rgb color[i] notitle
	}
}
unset multiplot
