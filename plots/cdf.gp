# SPDX-License-Identifier: MIT
# Latency distribution at one size (cdf-OP-MODE-SIZE): CDF | tail (1 - CDF,
# log).  sonuma-bench reports percentiles, not per-operation samples, so each
# curve is a STEP APPROXIMATION through t_min, p50, p99, p99.9 and t_max (a
# lower bound of the CDF between them), and the figure says so.  Dashed
# vertical lines: the model's target.  Run by plots/plot.sh.
load here.'/common.gp'

set logscale x 10
set format x '%g'
set mxtics 10
eval xtics_cdf
set xlabel 'Latency (µs)'
set grid xtics mxtics ytics lc rgb '#d8d8d8' lw 0.8, lc rgb '#efefef' lw 0.6

eval term(7.5, 3.7)
set output out(cdf_name)
set multiplot title sprintf('Latency distribution: %s %s of %s', cdf_mode, cdf_op, cdf_size_label) font ',12'
set label 98 'STEP APPROXIMATION through t_{min}, p50, p99, p99.9, t_{max} (sonuma-bench reports no per-operation samples); dashed: model target' \
	at screen 0.5, screen 0.025 center font ',9' textcolor rgb '#444444'

eval panel_left
eval shared_key(nconf > 4 ? 2 : 1)
eval panel_title('CDF')
set ylabel 'Fraction of operations ≤ latency'
set yrange [0:1.05]
set ytics 0.2
set mytics 2
set format y '%.1f'
plot for [i=1:nconf] (cdffile[i] ne '' ? cdffile[i] : empty) using 1:2 with steps lw 2 \
	lc rgb color[i] title confenh[i], \
     for [i=1:nconf] (cdffile[i] ne '' ? cdffile[i] : empty) using 1:2 with points pt 7 ps 0.7 \
	lc rgb color[i] notitle, \
     for [i=1:nconf] (cdftarget[i] > 0 ? cdffile[i] : empty) using (cdftarget[i]):2 with lines \
	lw 1.5 dt (8,4) lc rgb color[i] notitle

unset label 98
eval panel_right
eval panel_title('tail: 1 − CDF')
set ylabel 'Fraction of operations > latency'
set logscale y 10
set yrange [*:2]
set ytics auto
set format y '10^{%L}'
set mytics 10
plot for [i=1:nconf] (cdffile[i] ne '' ? cdffile[i] : empty) using 1:3 with steps lw 2 \
	lc rgb color[i] notitle, \
     for [i=1:nconf] (cdffile[i] ne '' ? cdffile[i] : empty) using 1:3 with points pt 7 ps 0.7 \
	lc rgb color[i] notitle, \
     for [i=1:nconf] (cdftarget[i] > 0 ? cdffile[i] : empty) using (cdftarget[i]):($3 > 0 ? $3 : NaN) \
	with lines lw 1.5 dt (8,4) lc rgb color[i] notitle
unset multiplot
