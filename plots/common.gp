# SPDX-License-Identifier: MIT
# Shared settings of the sonuma plots.  Loaded by every script after the
# caller set:  fmt ('png' or 'svg'), pngterm ('pngcairo' or 'png'),
# outdir (where figures go), work (where summary.py plotdata put meta.gp)
# and here (this directory).
set encoding utf8
set datafile separator comma
load work.'/meta.gp'

# Figure size in inches at 150 px per inch; the SVG has the same size in
# its own units (it scales: "dynamic"), so both look alike.
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

csv(i, op, mode) = cdir[i].'/'.op.'-'.mode.'.csv'
us(col) = column(col) / 1000.0
gbps(col) = column(col) / 1000.0

# Colours (Okabe-Ito, safe for colour-blind readers): models use meta.gp's
# color[]; read and write, async and sync as below.
c_read = '#0072B2'
c_write = '#D55E00'
c_async = '#0072B2'
c_sync = '#56B4E9'
c_link = '#009E73'
c_bound = '#444444'
c_floor = '#777777'
opcolor(op) = op eq 'read' ? c_read : c_write

set style fill transparent solid 0.18 noborder
set border 3 lw 1.2
set tics nomirror out scale 0.8
set grid xtics ytics lc rgb '#d8d8d8' lw 0.8 dt 1
set logscale x 2
eval size_tics
set xlabel 'Transfer size (bytes)' offset 0, 0.3
set format y '%g'
set pointsize 1.0
# Axes end at the data, with a margin, rather than at the next decade.
set autoscale fix
set offsets graph 0.05, graph 0.05, graph 0.08, graph 0.08

# Two panels side by side under one key (drawn by the left panel, at the
# top of the figure): eval panel_left / panel_right before each plot.
panel_top = 0.76
panel_left = sprintf("set lmargin at screen 0.095; set rmargin at screen 0.485; set tmargin at screen %g; set bmargin at screen 0.155", panel_top)
panel_right = sprintf("set lmargin at screen 0.595; set rmargin at screen 0.99; set tmargin at screen %g; set bmargin at screen 0.155; unset key", panel_top)
shared_key(rows) = sprintf("set key at screen 0.5, screen 0.865 center center vertical Left reverse maxrows %d samplen 2.5 spacing 1.1 width 1 box lc rgb '#bbbbbb' opaque font ',10'", rows)
# A panel's title, just above it (between the shared key and the panel).
panel_title(t) = sprintf("set label 99 '%s' at graph 0.5, graph 1.045 center front font ',10.5' textcolor rgb '#222222'", t)
# A key above each panel instead, when they show different series.
half_key(x, rows) = sprintf("set key at screen %g, screen 0.865 center center vertical Left reverse maxrows %d samplen 2.5 spacing 1.1 width 1 box lc rgb '#bbbbbb' opaque font ',9.5'", x, rows)
