# shellcheck shell=bash
# What the bench scripts share: medians and ratios for their tables.

# The median of the numbers on standard input, one per line.
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# $1 / $2 as "0.62x".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
