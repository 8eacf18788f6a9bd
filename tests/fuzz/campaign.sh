#!/bin/bash
# Long fuzzing campaigns with CPU accounting: run the libFuzzer targets of
# BUILD in chunks of CHUNK seconds (or what a target still needs), JOBS
# at a time (at nice 19), always the target with the least CPU time so
# far, until every target has CPU_SECONDS in the ledger.  Each chunk
# appends a line to BUILD/fuzz-ledger.tsv:
#
#   target  cpu-seconds (user+sys, GNU time)  exit status  date  note
#
# so the totals survive interruptions and can be summed later
# (campaign.sh BUILD --report).  Chunks continue BUILD/fuzz-work/TARGET
# and use the seeds of run-fuzz.sh.  A crash stops its chunk: the input
# is saved under BUILD/fuzz-crashes/ with the chunk's log, the target is
# left out for the rest of the campaign (fix it first), and the campaign
# ends with status 1.
#
# While BUILD/fuzz-pause exists no chunk starts (a test run wants the
# CPU); creating BUILD/fuzz-stop ends the campaign after the running
# chunks.  A chunk interrupted with SIGINT exits 72 and counts its time.
# A campaign killed outright loses at most the last 5 s of its running
# chunks: their CPU time is polled from /proc, and the next campaign
# records it with the status "killed".  One campaign runs per BUILD
# (BUILD/fuzz-campaign.lock).
#
# usage: campaign.sh BUILD CPU_SECONDS [JOBS [CHUNK [NOTE]]]
#        campaign.sh BUILD --report
set -u
B=$(cd "${1:?usage: campaign.sh BUILD CPU_SECONDS [JOBS [CHUNK [NOTE]]]}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
L=$B/fuzz-ledger.tsv
targets() {
	for t in "$B"/tests/fuzz/fuzz-*; do
		[ -x "$t" ] && [ -f "$t" ] && basename "$t"
	done
}
cpu() { awk -F'\t' -v n="$1" '$1 == n {s += $2} END {printf "%d", s}' "$L" 2>/dev/null || echo 0; }
if [ "${2:-}" = --report ]; then
	printf '%-26s %9s %7s %s\n' target cpu-s chunks "exit status:chunks"
	for n in $(targets); do
		printf '%-26s %9d %7d %s\n' "$n" "$(cpu "$n")" \
			"$(awk -F'\t' -v n="$n" '$1 == n' "$L" 2>/dev/null | wc -l)" \
			"$(awk -F'\t' -v n="$n" '$1 == n {c[$3]++}
				END {for (k in c) printf "%s:%d ", k, c[k]}' "$L" 2>/dev/null)"
	done
	exit 0
fi
WANT=${2:?cpu seconds per target}; JOBS=${3:-2}; CHUNK=${4:-900}; NOTE=${5:-}
[ -x /usr/bin/time ] || { echo "campaign: needs GNU time (/usr/bin/time)" >&2; exit 2; }
# shellcheck source=tests/fuzz/common.sh
. "$SRC/tests/fuzz/common.sh"
fuzz_seeds "$B" "$SRC"
# One campaign per build at a time: every job and fuzzer inherits the
# lock, so the jobs of a campaign killed outright (kill -9 of this shell
# leaves them running) keep a new one out until they end.
exec 8> "$B/fuzz-campaign.lock"
flock -n 8 || { echo "campaign: another campaign runs on $B (or its jobs are ending)" >&2; exit 2; }
R=$B/fuzz-running; mkdir -p "$R" "$B/fuzz-crashes"
# Chunks of a campaign that was killed (SIGKILL, the machine stopped):
# their CPU time at the last poll, status "killed".  Each is claimed by
# a rename first, so a kill here loses a line rather than adding it
# twice.
for f in "$R"/*.partial; do
	[ -e "$f" ] && mv "$f" "$f.taken" && cat "$f.taken" >> "$L"
done
rm -f "$R"/* "$B/fuzz-stop"
touch "$R/.start"

# partial NAME PID: write NAME's ledger line so far to $R/NAME.partial,
# from the user and system clock ticks of PID in /proc/PID/stat (fields
# 14 and 15; field 2, the command, is in parentheses and may hold spaces)
TCK=$(getconf CLK_TCK)
partial() {
	local f
	[ -n "$2" ] && read -r -a f < <(sed 's/.*) //' "/proc/$2/stat" 2> /dev/null) &&
		[ "${#f[@]}" -gt 12 ] || return 0
	# (fields from 3 on: utime is f[11], stime f[12])
	printf '%s\t%s\tkilled\t%s\t%s\n' "$1" "$(echo "scale=2; (${f[11]} + ${f[12]}) / $TCK" | bc)" \
		"$(date -u +%Y-%m-%dT%H:%M)" "$NOTE (killed; CPU at the last 5-s poll)" > "$R/$1.partial.tmp" &&
		mv "$R/$1.partial.tmp" "$R/$1.partial"
}

# one job: pick, run, record, until every target is done
job() {
	local name have st u s tpid cpu note len
	while [ ! -e "$B/fuzz-stop" ]; do
		while [ -e "$B/fuzz-pause" ] && [ ! -e "$B/fuzz-stop" ]; do sleep 20; done
		exec 9> "$B/fuzz-pick.lock"
		flock 9
		# the least fuzzed target that no other job runs (ends: a
		# finite list, and a pick marks its target running)
		read -r have name < <(for n in $(targets); do
			[ -e "$R/$n" ] || [ -e "$R/$n.crashed" ] || echo "$(cpu "$n") $n"
		done | sort -n | head -1)
		if [ -z "${name:-}" ] || [ "$have" -ge "$WANT" ]; then
			exec 9>&-
			return
		fi
		touch "$R/$name"
		exec 9>&-
		# A chunk is cut to what the target still needs (at least 30
		# s), so a campaign ends near CPU_SECONDS rather than up to a
		# chunk past it.  (libFuzzer's -max_total_time does not cut
		# the replay of the corpus at the start: a 30-s chunk of a
		# target with a large corpus can take minutes.)
		len=$((WANT - have))
		[ "$len" -lt "$CHUNK" ] || len=$CHUNK
		[ "$len" -ge 30 ] || len=30
		fuzz_corpus "$B" "$SRC" "$name"
		/usr/bin/time -f "%U %S" -o "$R/$name.time" nice -n 19 \
			env "${FUZZ_ENV[@]}" "$B/tests/fuzz/$name" -max_total_time="$len" \
			"${FUZZ_OPTS[@]}" -reload=0 \
			-artifact_prefix="$B/fuzz-crashes/$name-" \
			"${FUZZ_DIRS[@]}" > "$B/fuzz-work/$name.camp.log" 2>&1 &
		tpid=$!
		# Meanwhile the fuzzer's CPU time so far (nice and env exec it:
		# it is time's child) is kept in $R/NAME.partial as a ledger line, for
		# a campaign killed outright (ends: time exits when the fuzzer
		# does, after at most CHUNK seconds and -timeout per input).
		while kill -0 "$tpid" 2> /dev/null; do
			sleep 5
			partial "$name" "$(pgrep -P "$tpid" | head -n 1)"
		done
		wait "$tpid"
		st=$?
		# (the last line: GNU time first notes a non-zero exit); without
		# it, the last poll's time, or nothing
		cpu='' note=$NOTE
		if read -r u s < <(tail -n 1 "$R/$name.time" 2> /dev/null) &&
			[[ $u =~ ^[0-9]+(\.[0-9]+)?$ && $s =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
			cpu=$(echo "$u + $s" | bc)
		elif [ -s "$R/$name.partial" ]; then
			cpu=$(cut -f 2 "$R/$name.partial")
			note="$NOTE (no time from GNU time: CPU at the last poll)"
		else
			echo "campaign: $name: no CPU time measured: chunk not recorded" >&2
		fi
		# the partial line goes first: a kill in between loses the
		# chunk rather than counting it twice
		rm -f "$R/$name.partial"
		[ -z "$cpu" ] || printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$cpu" "$st" \
			"$(date -u +%Y-%m-%dT%H:%M)" "$note" >> "$L"
		if [ "$st" != 0 ] && [ "$st" != 72 ]; then
			cp "$B/fuzz-work/$name.camp.log" "$B/fuzz-crashes/$name-$(date -u +%Y%m%d%H%M%S).log"
			echo "campaign: $name exited $st: see $B/fuzz-crashes/" >&2
			touch "$R/$name.crashed"
		fi
		rm -f "$R/$name" "$R/$name.time"
	done
}
for _ in $(seq "$JOBS"); do job & done
wait
"$0" "$B" --report
# a crash in this campaign fails it
[ -z "$(find "$B/fuzz-crashes" -name '*.log' -newer "$R/.start")" ]
