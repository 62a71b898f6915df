# bench/plot.gp: throughput and commit latency over time of one `make bench`
# run. bench/run.sh calls it with
#   gnuplot -e "series='S'; labels='L'; out='O.png'" bench/plot.gp
# where S is bench_node_load's --series file, one line a second (workload,
# seconds since start, committed tx/s and trip credits/s over the last 5 s,
# p50 and p99 in ms of the latency samples answered in that second, node 0's
# mempool) and L holds one "set label" per workload start.
set terminal pngcairo size 1200,800 font ",10"
set output out
set datafile separator "\t"
set datafile missing "nan"
set multiplot layout 2,1 title "Carbon Ledger, 4 validators on 127.0.0.1"

load labels
set grid
set key below
set xlabel "seconds since the load generator started"
set ylabel "committed per second"
set y2label "trip credits per second"
set y2tics
set ytics nomirror
plot series using 2:3 with lines lw 2 title "transactions/s (node 0, 5 s average)", \
     series using 2:4 axes x1y2 with lines lw 1 title "trip credits/s (5 s average)"

unset y2label
unset y2tics
set ytics mirror
set ylabel "commit latency (ms)"
set logscale y
plot series using 2:5 with linespoints pt 7 ps 0.4 title "p50 of the second's samples", \
     series using 2:6 with linespoints pt 7 ps 0.4 title "p99"
unset multiplot
