# Sourced by the soak benchmarks (record-soak.sh, pg-soak.sh): prints their
# RSS samples, lines of "seconds exchanges rss_kib store_bytes", as a table
# and sums them up.

# soak_table FILE
soak_table() {
    printf '%7s %10s %9s %10s\n' "t s" exchanges "RSS MiB" "store MiB"
    awk '{ printf "%7d %10d %9.1f %10.1f\n", $1, $2, $3 / 1024, $4 / 1048576 }' "$1"
}

# soak_summary FILE LOAD_END IDLE_S: RSS at the start (the first sample,
# before the load), peak over all, at the end of the load and after IDLE_S
# seconds idle; its slope (least squares on the exchanges stored) per
# 100,000 exchanges over the load and over its second half, where a leak
# shows as a slope that does not fall to zero.
soak_summary() {
    awk -v end="$2" -v idle_s="$3" '
        function slope(from,   i, n, sx, sy, sxx, sxy) {
            for (i = from; i <= m; i++) { n++; sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; sxy += x[i] * y[i] }
            if (n < 2 || n * sxx == sx * sx) return "n/a"
            return sprintf("%+.2f MiB", (n * sxy - sx * sy) / (n * sxx - sx * sx) * 100000 / 1024)
        }
        NR == 1 { start = $3 }
        { if ($3 > peak) peak = $3 }
        $1 <= end && $2 > 0 { m++; x[m] = $2; y[m] = $3; last = $3 }
        { idle = $3 }
        END {
            printf "RSS: start %.1f MiB, peak %.1f MiB, end of load %.1f MiB, after %s s idle %.1f MiB\n",
                start / 1024, peak / 1024, last / 1024, idle_s, idle / 1024
            printf "RSS slope per 100k exchanges: %s over the load, %s over its second half (%d samples)\n",
                slope(1), slope(int(m / 2) + 1), m
        }' "$1"
}
