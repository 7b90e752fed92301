# SPDX-License-Identifier: MIT
# sonuma-pagerank under several timing models (experiments/apps/pagerank.sh).
# Left: the median iteration of each model (an iteration's time is its
# slowest node's), split into that node's phases: fetch, the remote reads
# of neighbours' ranks; compute; barrier and the two sums through node 0.
# The diamond is the mean iteration, the whisker spans the fastest to the
# slowest; under each model, the latency its config targets for a 64-byte
# remote read.  Right: every iteration's time per model.
# Called with fmt, pngterm, outdir, csvfile (pagerank.csv), dir (the run's
# directory: DIR/CONFIG/iters.csv), configs (the names, space-separated),
# here, [subtitle].
load here.'/apps.gp'

tgt(dummy) = column('read64_target_ns') > 0 ? sprintf('%.0f ns', column('read64_target_ns')) : 'native'
stats csvfile using 'iter_max_ms' name 'M' nooutput
stats csvfile using 'iters' name 'IT' nooutput
ymax = M_max * 1.1
n = words(configs)

eval term(7.5, 3.8)
set output out('pagerank')
set multiplot title 'sonuma-pagerank: time per iteration under each timing model'.(subtitle ne '' ? "\n{/*0.8 ".subtitle.'}' : '') font ',12'

eval panel_left
eval half_key(0.29, 3)
eval panel_title('median iteration, by phase (slowest node)')
set ylabel 'Time per iteration (ms)'
set xlabel 'Model (target of a 64-byte remote read; fetch time)' offset 0, -1.2
set xrange [-0.6 : n - 0.4]
set yrange [0 : ymax]
set boxwidth 0.6
set grid noxtics ytics
set xtics scale 0 font ',8.5'
plot csvfile using 0:(column('median_fetch_ms') + column('median_compute_ms') + column('median_sync_ms')) \
	with boxes fs solid 0.85 noborder lc rgb c_sync title 'barrier and sums', \
     csvfile using 0:(column('median_fetch_ms') + column('median_compute_ms')) with boxes \
	fs solid 0.85 noborder lc rgb c_compute title 'compute', \
     csvfile using 0:'median_fetch_ms':xtic(strcol('label')."\n".tgt(0)."\n".sprintf('fetch %.2f ms', column('median_fetch_ms'))) with boxes \
	fs solid 0.85 noborder lc rgb c_fetch title 'fetch (remote reads)', \
     csvfile using 0:'iter_min_ms':(0):(column('iter_max_ms') - column('iter_min_ms')) with vectors \
	heads size 0.08, 90 lw 1.2 lc rgb '#222222' title 'fastest to slowest iteration', \
     csvfile using 0:'iter_mean_ms' with points pt 13 ps 1.4 lc rgb '#222222' \
	title 'mean iteration'

eval panel_right
eval half_key(0.79, 2)
eval panel_title('every iteration')
set xlabel 'Iteration' offset 0, 0.3
set ylabel 'Time (ms)'
set xrange [-0.3 : IT_max - 0.7]
set yrange [0 : *]
unset logscale y
set grid xtics ytics
set xtics scale 0.8 font ',10'
eval sprintf('set xtics %d', IT_max <= 20 ? 1 : int(IT_max / 10))
plot for [i=1:n] dir.'/'.word(configs, i).'/iters.csv' using 'iter':'time_ms' with linespoints \
	lw 2 pt 7 ps 0.7 lc rgb pcolor(i - 1) title word(configs, i)
unset multiplot
