# score.jq - compare emitted events with the sandbox's ground truth, per cell.
# Definitions: docs/fidelity.md. Run with jq -n and:
#   --slurpfile cells  cells.json     [[{conn, provider, scenario, fault}, ...]]
#   --slurpfile events events.jsonl   lmsync-tail JSON lines of lmsync.activity.changes
#   --slurpfile status status.jsonl   lmsync-tail JSON lines of lmsync.sync.status
#   --slurpfile truth  changes.json   [GET /_sandbox/changes?since=1]
#   --slurpfile finals finals.json    [{conn: [GET /_sandbox/activities], ...}]
#   --argjson seq0 N    last ground-truth seq of the initial sync
#   --argjson ev0 N     number of event lines at the end of the initial sync
#   --argjson t0 S      epoch second the scripted phase started
# Output: one JSON object per cell, then a summary object {"summary": ...}.

def nt: if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")
        then (sub("\\.000Z$"; "Z") | sub("\\+00:00$"; "Z")) else . end;
def norm: if . == null then null else with_entries(.value |= nt) end;
def strip: if . == null then null else del(.updated_at) end;
def epoch: sub("\\.[0-9]+Z$"; "Z") | fromdate;

# first index >= $from in array $h whose element equals $x, or null
def find_from($h; $x; $from):
  first(range($from; $h | length) as $i | select($h[$i] == $x) | $i) // null;

# Events: de-duplicated by ce_id (first occurrence wins), in emitted order.
($events | to_entries
 | reduce .[] as $e ({seen: {}, out: []};
     ($e.value.headers.ce_id // "") as $id
     | if .seen[$id] then . else
         .seen[$id] = true
         | .out += [{i: $e.key, c: $e.value.value.connection_id, a: $e.value.value.activity_id,
                     t: $e.value.value.type,
                     b: (if $e.value.value.type == "created" then null else $e.value.value.before | norm end),
                     f: (if $e.value.value.type == "removed" then null else $e.value.value.after | norm end),
                     mode: $e.value.value.observed.mode}]
       end) | .out) as $evs
| ($evs | group_by(.c) | map({key: .[0].c, value: group_by(.a) | map({key: .[0].a, value: .}) | from_entries})
   | from_entries) as $ev_by
| ($truth[0].changes | group_by(.connection_id)
   | map({key: .[0].connection_id, value: (group_by(.activity_id)
       | map({key: .[0].activity_id, value: (sort_by(.seq))}) | from_entries)}) | from_entries) as $tr_by
| ($status | map(.value)) as $st
| [ $cells[0][] | . as $cell | $cell.conn as $c
    | ($tr_by[$c] // {}) as $tr
    | ($ev_by[$c] // {}) as $ev
    | (($finals[0][$c] // []) | map({key: .id, value: (. | norm)}) | from_entries) as $fin
    | ([$tr, $ev, $fin] | map(keys) | add | unique) as $acts
    | [ $acts[] as $a
        | ([null] + (($tr[$a] // []) | map(.after | norm))) as $h
        | ($ev[$a] // []) as $es
        | (reduce $es[] as $e ({k: 0, inv: 0, frm: 0};
             find_from($h; $e.b; .k) as $i
             | (if $i == null then null else find_from($h; $e.f; $i + 1) end) as $j
             | if $j != null then .k = $j
               elif $e.t == "removed" then .frm += 1
               else .inv += 1 end)) as $m
        | ($fin[$a]) as $final
        | (if $final != null then
             (($es | length) == 0 or (($es | last | .f | strip) != ($final | strip)))
           else
             (($es | length) > 0 and ($es | last | .t) != "removed")
           end) as $missed
        | {a: $a, inv: $m.inv, frm: $m.frm, missed: (if $missed then 1 else 0 end)} ] as $per
    | ($st | map(select(.connection_id == $c and ((.started_at | epoch) >= $t0)))) as $jobs
    | ($jobs | map(select(.mode == "incremental"))) as $inc
    | ($jobs | map(select(.mode == "webhook"))) as $wh
    | ($jobs | map(select(.mode != "incremental" and .mode != "webhook"))) as $full
    | def avg(f): if length == 0 then null else (map(f) | add) / length | floor end;
    {conn: $c, provider: $cell.provider, scenario: $cell.scenario, fault: $cell.fault,
     records: ($fin | length),
     changes: ([($tr[][]) | select(.seq > $seq0 and .type != "touched")] | length),
     events: ([($ev[][]) | select(.i >= $ev0)] | length),
     invented: ($per | map(.inv) | add // 0),
     missed: ($per | map(.missed) | add // 0),
     false_removals: ($per | map(.frm) | add // 0),
     missed_ids: ($per | map(select(.missed > 0 or .inv > 0 or .frm > 0) | .a)),
     syncs: ($jobs | length), failed: ($jobs | map(select(.outcome != "ok")) | length),
     incremental: ($inc | length), webhook: ($wh | length),
     req_full: ($full | avg(.requests)), bytes_full: ($full | avg(.bytes)),
     req_inc: ($inc | avg(.requests)), bytes_inc: ($inc | avg(.bytes))} ]
| (.[]),
  {summary: {cells: length, changes: (map(.changes) | add), events: (map(.events) | add),
             invented: (map(.invented) | add), missed: (map(.missed) | add),
             false_removals: (map(.false_removals) | add), syncs: (map(.syncs) | add),
             failed: (map(.failed) | add), incremental: (map(.incremental) | add),
             webhook: (map(.webhook) | add)}}
