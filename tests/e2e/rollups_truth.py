#!/usr/bin/env python3
"""Recompute every progress rollup from the sandbox's ground truth and compare
it with the rollup topics (docs/events.md, section 11: the definitions).

usage: rollups_truth.py TRUTH_JSON ENROLLMENTS_JSONL COURSES_JSONL EVENTS_JSONL IDLE_DAYS

TRUTH_JSON: {"conn-0001": [activity, ...], ...} (the sandbox's activities).
The *_JSONL files are lmsync-tail --format json lines; a topic is folded to its
latest value per key (a null value deletes the key), as a compacted topic is.
The envelope (integration_type, tenant) must equal the connection's change
events'. Prints every difference; exits 1 when there is one.
"""
import json
import math
import sys
from collections import defaultdict
from datetime import datetime

DAY_MS = 86400000


def ms(s):
    """RFC 3339 instant -> ms since epoch (UTC)."""
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def quant(x):
    """Hundredths, half up; None when not a counted number."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not abs(x) <= 1e9:
        return None
    return math.floor(x * 100.0 + 0.5)


def rdiv(s, n):
    return (2 * s + n) // (2 * n)


def key_part(s):
    return isinstance(s, str) and s != "" and not any(c == "/" or ord(c) < 0x20 or ord(c) == 0x7F for c in s)


def enrollment(acts):
    n = len(acts)
    done = sum(1 for a in acts if a.get("is_completed") is True)
    out = {"activities": n, "completed": done, "completion_share": rdiv(done * 10000, n) / 10000}
    prog = [q for q in (quant(a.get("progress_percentage")) for a in acts) if q is not None]
    if prog:
        out["progress_mean"] = rdiv(sum(prog), len(prog)) / 100
        out["progress_min"] = min(prog) / 100
    dur = [q for q in (quant(a.get("duration_minutes")) for a in acts) if q is not None]
    if dur:
        out["duration_minutes"] = sum(dur) / 100
    started = [ms(a["started_at"]) for a in acts if isinstance(a.get("started_at"), str)]
    if started:
        out["first_started_at"] = min(started)
    last = [ms(a[f]) for a in acts for f in ("started_at", "completed_at", "updated_at") if isinstance(a.get(f), str)]
    if last:
        out["last_activity_at"] = max(last)
    ends = [ms(a["completed_at"]) for a in acts if isinstance(a.get("completed_at"), str)]
    if done == n and len(ends) == n:
        out["all_completed_at"] = max(ends)
    internal = {"pmean_q": rdiv(sum(prog), len(prog)) if prog else None, "last": out.get("last_activity_at"),
                "all_done": done == n}
    return out, internal


def course(enrs, evaluated_at_ms, idle_days):
    n = len(enrs)
    done = sum(1 for e in enrs if e["all_done"])
    out = {"learners": n, "learners_completed": done, "completion_rate": rdiv(done * 10000, n) / 10000,
           "idle_days": idle_days}
    means = [e["pmean_q"] for e in enrs if e["pmean_q"] is not None]
    if means:
        out["progress_mean"] = rdiv(sum(means), len(means)) / 100
    cutoff = evaluated_at_ms - idle_days * DAY_MS
    out["learners_idle"] = sum(1 for e in enrs if e["last"] is not None and e["last"] < cutoff)
    return out


def fold(path):
    latest = {}
    with open(path) as f:
        for line in f:
            m = json.loads(line)
            if m["value"] is None:
                latest.pop(m["key"], None)
            else:
                latest[m["key"]] = m["value"]
    return latest


def envelopes(path):
    env = {}
    with open(path) as f:
        for line in f:
            v = json.loads(line)["value"]
            env[v["connection_id"]] = {"integration_type": v["integration_type"], "tenant": v["tenant"]}
    return env


def published(value, ident):
    """The published value without its identity and envelope, instants as ms."""
    out = {k: v for k, v in value.items() if k not in ident}
    for k in list(out):
        if k.endswith("_at") and k != "evaluated_at":
            out[k] = ms(out[k])
    out.pop("evaluated_at", None)
    return out


def main():
    truth_path, enr_path, crs_path, ev_path, idle_days = sys.argv[1:6]
    idle_days = int(idle_days)
    truth = json.load(open(truth_path))
    env = envelopes(ev_path)
    members = defaultdict(list)
    for conn, acts in truth.items():
        for a in acts:
            if key_part(a.get("student_id")) and key_part(a.get("course_id")):
                members[(conn, a["student_id"], a["course_id"])].append(a)
    got_enr, got_crs = fold(enr_path), fold(crs_path)
    errors = []
    internal = defaultdict(list)
    want_enr = {}
    for (conn, stu, crs), acts in members.items():
        want, inner = enrollment(acts)
        want_enr[f"{conn}/{stu}/{crs}"] = (want, {"connection_id": conn, "student_id": stu, "course_id": crs})
        internal[(conn, crs)].append(inner)
    for key in sorted(set(want_enr) | set(got_enr)):
        check(errors, "enrollment", key, want_enr.get(key), got_enr.get(key), env)
    want_crs = {f"{c}/{k}": (c, k) for (c, k) in internal}
    for key in sorted(set(want_crs) | set(got_crs)):
        got = got_crs.get(key)
        want = None
        if key in want_crs and got is not None:
            conn, crs = want_crs[key]
            want = (course(internal[(conn, crs)], ms(got["evaluated_at"]), idle_days),
                    {"connection_id": conn, "course_id": crs})
        elif key in want_crs:
            want = ({}, {})
        check(errors, "course", key, want, got, env)
    for e in errors[:40]:
        print(e)
    print(f"{len(want_enr)} enrollments, {len(want_crs)} courses recomputed; {len(errors)} differences")
    return 1 if errors else 0


def check(errors, kind, key, want, got, env):
    if want is None:
        errors.append(f"{kind} {key}: published but no activity belongs to it: {json.dumps(got)}")
        return
    if got is None:
        errors.append(f"{kind} {key}: expected but not on the topic (or tombstoned): {json.dumps(want[0])}")
        return
    fields, ident = want
    for k, v in ident.items():
        if got.get(k) != v:
            errors.append(f"{kind} {key}: {k} is {got.get(k)!r}, expected {v!r}")
    e = env.get(ident["connection_id"])
    if e is None or any(got.get(k, "<absent>") != v for k, v in e.items()):
        errors.append(f"{kind} {key}: envelope {got.get('integration_type')!r}/{got.get('tenant')!r} "
                      f"differs from the change events' {e}")
    pub = published(got, set(ident) | {"integration_type", "tenant"})
    if pub != fields:
        errors.append(f"{kind} {key}: fields differ: published {json.dumps(pub, sort_keys=True)} "
                      f"recomputed {json.dumps(fields, sort_keys=True)}")


if __name__ == "__main__":
    sys.exit(main())
