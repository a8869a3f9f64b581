# steps.jq - one scripted round of every fidelity cell, as control-API calls.
#
# Input (jq -n ... inputs): one file per cell, named acts/<connection>.json,
# holding GET /_sandbox/activities of that connection.
# Arguments: --slurpfile cells cells.json  (array of {conn, provider, scenario, fault})
#            --argjson round R (1..4)  --arg now ISO  --arg edge ISO (now - 1 s)
#            --arg back ISO (now - 3 s)
# Output: TSV lines "METHOD \t PATH \t BODY" (BODY may be empty).
#
# Scenarios (docs/fidelity.md):
#   steady     2 activities progress a little every round
#   burst      round 2 completes every open activity at once
#   delete     round 1 and round 3 delete one activity each
#   recreate   round 1 deletes two; round 2 re-creates the first (same id,
#              new state), round 4 the second
#   scanshift  a "shift" fault per round (insert, delete, insert+delete) plus
#              one progress step, so offsets move during the scan
#   wmedge     changes whose updated_at sits on the watermark edge: exactly
#              the previous second, three seconds back, and now
#   fields     a field disappears (unset), reappears, becomes null, comes back
# Faults (scripted rounds only): 5xx = 503 x2 (odd rounds, retried) or x3
# (even rounds, the job fails); 429 = one 429 with Retry-After: 1;
# trunc = one truncated body (odd rounds) or three (even rounds, job fails).

def has_prog($p): ["coursera","go1","learnupon","sandbox_course_required"] | index($p) != null;
def has_dur($p):  ["coursera","d2l","successfactors_lms"] | index($p) != null;
def has_grade($p): ["d2l","moodle"] | index($p) != null;
def has_content($p): ["coursera","go1","d2l","successfactors_lms","moodle"] | index($p) != null;
def has_upd($p): $p != "moodle";

def post($c; $id; $set): ["POST", "/_sandbox/activity",
  ({connection_id: $c, activity_id: $id, set: $set} | tojson)];
def post_unset($c; $id; $set; $unset): ["POST", "/_sandbox/activity",
  ({connection_id: $c, activity_id: $id, set: $set, unset: $unset} | tojson)];
def del($c; $id): ["DELETE", "/_sandbox/activity?connection_id=\($c)&activity_id=\($id)", ""];
def fault($body): ["POST", "/_sandbox/faults", ($body | tojson)];

# A small forward step for any provider: progress, else duration, else start/grade.
def step($p; $a; $n):
  if has_prog($p) and ($a.is_completed != true) then
    {progress_percentage: ([((($a.progress_percentage // 0) + 7 + $n) | floor), 99] | min)}
    + (if $a.started_at == null then {started_at: $now} else {} end)
  elif has_dur($p) then {duration_minutes: (($a.duration_minutes // 0) + 5 + $n)}
    + (if $a.started_at == null then {started_at: $now} else {} end)
  elif has_grade($p) then {assigned_grade: "G\($round)-\($n)"}
  elif $a.started_at == null then {started_at: $now}
  else {is_completed: true, completed_at: $now} end;

def open_acts: map(select(.is_completed != true)) | sort_by(.id);
def ids: map(.id) | sort;

def fresh($p; $a):   # the state of a re-created activity (same id)
  {course_id: $a.course_id, student_id: $a.student_id, is_completed: false, started_at: $now}
  + (if has_content($p) and $a.content_id != null then {content_id: $a.content_id} else {} end)
  + (if has_prog($p) then {progress_percentage: 3} else {} end);

def cell_steps($cell; $acts):
  $cell.conn as $c | $cell.provider as $p | ($acts | sort_by(.id)) as $all |
  (if $cell.scenario == "steady" then
     ($acts | open_acts) as $o
     | ($o[($round - 1) % ([($o|length),1]|max)], $o[($round + 1) % ([($o|length),1]|max)])
     | select(. != null) | post($c; .id; step($p; .; $round))
   elif $cell.scenario == "burst" then
     if $round == 2 then
       $acts | open_acts | .[] | post($c; .id;
         {is_completed: true, completed_at: $now}
         + (if has_prog($p) then {progress_percentage: 100} else {} end)
         + (if has_grade($p) then {assigned_grade: "B"} else {} end)
         + (if .started_at == null then {started_at: $now} else {} end))
     else empty end
   elif $cell.scenario == "delete" then
     if $round == 1 or $round == 3 then del($c; $all[1].id) else empty end
   elif $cell.scenario == "recreate" then
     # remembered by position in the seed order: the seed ids are stable
     ($cell.seed[0]) as $a | ($cell.seed[2]) as $b |
     if $round == 1 then del($c; $a.id), del($c; $b.id)
     elif $round == 2 then post($c; $a.id; fresh($p; $a))
     elif $round == 4 then post($c; $b.id; fresh($p; $b))
     else empty end
   elif $cell.scenario == "scanshift" then
     (if $round == 2 then fault({connection_id: $c, kind: "shift", direction: "delete", count: 1})
      elif $round == 3 then fault({connection_id: $c, kind: "shift", direction: "insert", count: 1}),
                            fault({connection_id: $c, kind: "shift", direction: "delete", count: 1})
      else fault({connection_id: $c, kind: "shift", direction: "insert", count: 1}) end),
     (($acts | open_acts)[0] | select(. != null) | post($c; .id; step($p; .; $round)))
   elif $cell.scenario == "wmedge" then
     ($acts | open_acts) as $o |
     (($o[0] | select(. != null) | post($c; .id; step($p; .; $round)
        + (if has_upd($p) then {updated_at: $edge} else {} end))),
      ($o[1] | select(. != null) | post($c; .id; step($p; .; $round)
        + (if has_upd($p) then {updated_at: $back} else {} end))),
      ($o[2] | select(. != null) | post($c; .id; step($p; .; $round)
        + (if has_upd($p) then {updated_at: $now} else {} end))))
   elif $cell.scenario == "fields" then
     (if has_prog($p) then "progress_percentage" elif has_dur($p) then "duration_minutes"
      elif has_grade($p) then "assigned_grade" else "started_at" end) as $f |
     ($all[0]) as $a |
     if $a == null then empty
     elif $round == 1 then post_unset($c; $a.id; {}; [$f])
     elif $round == 2 then post($c; $a.id; {($f): (if $f == "started_at" then $now
                                                  elif $f == "assigned_grade" then "C" else 42 end)})
     elif $round == 3 then post($c; $a.id; {($f): null})
     else post_unset($c; $a.id; {($f): (if $f == "started_at" then $now
                                       elif $f == "assigned_grade" then "D" else 17 end)}; ["completed_at"]) end
   else empty end),
  (if $cell.fault == "5xx" then
     fault({connection_id: $c, kind: "status", status: 503, path: "activity",
            count: (if $round % 2 == 1 then 2 else 3 end)})
   elif $cell.fault == "429" then
     fault({connection_id: $c, kind: "status", status: 429, retry_after: 1, path: "activity", count: 1})
   elif $cell.fault == "trunc" then
     fault({connection_id: $c, kind: "truncate", path: "activity",
            count: (if $round % 2 == 1 then 1 else 3 end)})
   else empty end);

(reduce inputs as $a ({}; .[input_filename | sub(".*/"; "") | sub("\\.json$"; "")] = $a)) as $acts
| $cells[0][] | . as $cell
| cell_steps($cell; $acts[$cell.conn] // [])
| @tsv
