# SPDX-License-Identifier: MIT
# Shared settings of the application plots (kv.gp, pagerank.gp), in the
# style of plots/common.gp.  Loaded after the caller set: fmt ('png' or
# 'svg'), pngterm ('pngcairo' or 'png'), outdir (where figures go) and
# here (this directory).
set encoding utf8
set datafile separator comma
set datafile columnheaders

fontsize = 11
term(w, h) = fmt eq 'svg' ? \
	sprintf("set terminal svg size %d,%d dynamic enhanced font 'DejaVu Sans,%d' fontscale 1.333 linewidth 1.5 background '#ffffff'", \
		int(w*150), int(h*150), fontsize) : \
	(pngterm eq 'pngcairo' ? \
	sprintf("set terminal pngcairo size %d,%d enhanced font 'DejaVu Sans,%d' linewidth 1.5 background '#ffffff'", \
		int(w*150), int(h*150), fontsize) : \
	sprintf("set terminal png size %d,%d enhanced font 'DejaVu Sans,%d' linewidth 2 background '#ffffff'", \
		int(w*150), int(h*150), int(fontsize*1.4)))
out(name) = outdir.'/'.name.'.'.fmt

# Okabe-Ito, as plots/common.gp: one colour per model config, in the order
# of the CSV rows.
array pal[8] = [0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0xE69F00, 0x56B4E9, 0x000000, 0xF0E442]
pcolor(i) = pal[int(i) % 8 + 1]
c_get = '#0072B2'
c_put = '#D55E00'
c_bound = '#444444'
c_fetch = '#0072B2'
c_compute = '#E69F00'
c_sync = '#999999'

set style fill transparent solid 0.18 noborder
set border 3 lw 1.2
set tics nomirror out scale 0.8
set grid xtics ytics lc rgb '#d8d8d8' lw 0.8 dt 1
set format y '%g'
set pointsize 1.0

# Two panels side by side under one key (drawn by the left panel, at the
# top of the figure), as in plots/common.gp.
panel_top = 0.74
panel_left = sprintf("set lmargin at screen 0.095; set rmargin at screen 0.485; set tmargin at screen %g; set bmargin at screen 0.155", panel_top)
panel_right = sprintf("set lmargin at screen 0.595; set rmargin at screen 0.99; set tmargin at screen %g; set bmargin at screen 0.155; unset key", panel_top)
shared_key(rows) = sprintf("set key at screen 0.5, screen 0.845 center center vertical Left reverse maxrows %d samplen 2.5 spacing 1.1 width 1 box lc rgb '#bbbbbb' opaque font ',10'", rows)
panel_title(t) = sprintf("set label 99 '%s' at graph 0.5, graph 1.045 center front font ',10.5' textcolor rgb '#222222'", t)
if (!exists('subtitle')) subtitle = ''
# A key above each panel instead, when they show different series.
half_key(x, rows) = sprintf("set key at screen %g, screen 0.845 center center vertical Left reverse maxrows %d samplen 2.5 spacing 1.1 width 1 box lc rgb '#bbbbbb' opaque font ',9.5'", x, rows)
# Tics of a logarithmic axis at 1-2-5 (a narrow range still gets some).
logtics(axis) = sprintf("set %stics (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)", axis)
