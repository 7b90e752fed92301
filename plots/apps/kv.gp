# SPDX-License-Identifier: MIT
# sonuma-kv under several timing models (experiments/apps/kv.sh): the
# cluster's throughput (left) and the latency of gets and puts (right)
# against the remote latency each model gives a get's slot read, measured
# unloaded by process 0 before the run.  Left, dashed: the bound of
# synchronous clients, clients / (round trips per operation x latency)
# (a get is 2 round trips with the seqlock check, 1 without; a put 3).
# Right, dotted: the same round trips at the unloaded latency; the mean
# get latency shows what the clients lose to sharing CPUs (throughput is
# clients / mean latency).
# Called with fmt, pngterm, outdir, csvfile (kv.csv), configs (the labels of
# its rows, space-separated), here, [subtitle].
load here.'/apps.gp'

x_us(dummy) = column('read_unloaded_p50_ns') / 1000.0
getrt(dummy) = strcol('get_check') eq 'seqlock' ? 2 : 1
rt(dummy) = column('get_pct') / 100.0 * getrt(0) + (1 - column('get_pct') / 100.0) * 3
stats csvfile using (x_us(0)) name 'X' nooutput
stats csvfile using (column('ops_per_s') / 1e6) name 'Y' nooutput
stats csvfile using (column('procs') * column('threads')) name 'CL' nooutput
stats csvfile using (rt(0)) name 'RT' nooutput
stats csvfile using (getrt(0)) name 'GRT' nooutput
onecurve = (CL_min == CL_max && RT_min == RT_max)
stats csvfile using (column('get_p50_ns') / 1e3) name 'LO' nooutput
max3(a, b, c) = a > b ? (a > c ? a : c) : (b > c ? b : c)
stats csvfile using (max3(column('put_p99_ns'), column('get_p99_ns'), column('get_mean_ns')) / 1e3) name 'HI' nooutput

n = words(configs)
set logscale y 10
eval logtics('y')
set mytics 10
set xrange [0 : X_max * 1.25]
set xlabel 'Remote read of a slot, unloaded p50 (µs)' offset 0, 0.3
set format x '%g'
set mxtics 2

eval term(7.5, 3.8)
set output out('kv')
set multiplot title 'sonuma-kv: throughput and latency vs the remote latency of each model'.(subtitle ne '' ? "\n{/*0.8 ".subtitle.'}' : '') font ',12'

eval panel_left
eval half_key(0.29, (n + 2) / 2)
eval panel_title('throughput of all nodes')
set ylabel 'Throughput (Mops/s)'
ytop = onecurve ? CL_min / (RT_min * X_min / 1.3) : Y_max * 3
set yrange [Y_min / 3 : (ytop > Y_max * 3 ? ytop : Y_max * 3)]
plot (onecurve ? CL_min / (RT_min * x) : NaN) with lines lw 1.5 dt (8,4) lc rgb c_bound \
	title (onecurve ? sprintf('bound: %d / (%.2f × latency)', CL_min, RT_min) : ''), \
     for [i=1:n] csvfile every ::(i - 1)::(i - 1) using (x_us(0)):(column('ops_per_s') / 1e6) \
	with points pt 7 ps 1.4 lc rgb pcolor(i - 1) title word(configs, i)

eval panel_right
eval half_key(0.79, 4)
eval panel_title('latency per operation')
set ylabel 'Latency (µs)'
set yrange [LO_min / 1.6 : HI_max * 1.6]
plot csvfile using (x_us(0)):(column('get_p50_ns') / 1e3) smooth unique with linespoints lw 2 pt 7 \
	ps 0.9 lc rgb c_get title 'get p50', \
     csvfile using (x_us(0)):(column('get_p99_ns') / 1e3) smooth unique with linespoints lw 1.5 \
	dt (6,3) pt 6 ps 0.9 lc rgb c_get title 'get p99', \
     csvfile using (x_us(0)):(column('get_mean_ns') / 1e3) smooth unique with linespoints lw 1.2 \
	dt (2,2) pt 2 ps 0.8 lc rgb c_get title 'get mean', \
     csvfile using (x_us(0)):(column('put_p50_ns') / 1e3) smooth unique with linespoints lw 2 pt 5 \
	ps 0.9 lc rgb c_put title 'put p50', \
     csvfile using (x_us(0)):(column('put_p99_ns') / 1e3) smooth unique with linespoints lw 1.5 \
	dt (6,3) pt 4 ps 0.9 lc rgb c_put title 'put p99', \
     (GRT_min == GRT_max ? GRT_min * x : NaN) with lines lw 1.2 dt (2,3) lc rgb c_get \
	title (GRT_min == GRT_max ? sprintf('%d round trip%s (get)', GRT_min, GRT_min > 1 ? 's' : '') : ''), \
     3 * x with lines lw 1.2 dt (2,3) lc rgb c_put title '3 round trips (put)'
unset multiplot
