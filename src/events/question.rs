//! English questions about the system itself ("Show all crashes in the last hour",
//! "When did shard 2 last restart?", "How many queries took longer than 100 ms
//! today?"), read into an [`EventQuery`] and answered over stored events. Pure code.
//!
//! The reading is deliberately narrow: a question is about events only when it names a
//! kind of event (crash, restart, offline, query, transaction, ...); anything else is
//! left to the knowledge reasoner. Times are UTC: "today" starts at 00:00 UTC, "this
//! week" on Monday 00:00 UTC.

use super::{rfc3339, Event, EventKind};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// What the question wants back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Every matching event ("Show all crashes ...").
    List,
    /// How many ("How many queries ...").
    Count,
    /// The latest ("When did shard 2 last restart?").
    Last,
    /// The distinct actors or nodes ("Which nodes went offline ...").
    Which(Subject),
}

/// The kind of thing a "which" question asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Nodes.
    Node,
    /// Actors (shards, embedder replicas, ...).
    Actor,
}

/// A question about events.
#[derive(Clone, Debug, PartialEq)]
pub struct EventQuery {
    /// Event types that match (names, see [`EventKind::NAMES`]).
    pub kinds: Vec<&'static str>,
    /// Only events at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// The window as said ("in the last hour"), for the answer.
    pub window: Option<String>,
    /// Only events whose actor starts with this (`shard-2`, `embedder`).
    pub actor: Option<String>,
    /// Only events of (or about) this node.
    pub node: Option<String>,
    /// Only events measuring more than this many milliseconds.
    pub longer_than_ms: Option<f64>,
    /// What to answer.
    pub want: Want,
    /// Whether the question is plainly about the system (names a time window, an
    /// actor or node, a duration threshold, or crashes, restarts, outages or events),
    /// not only a word that could be about anything ("index", "storage").
    pub explicit: bool,
}

fn words(q: &str) -> Vec<String> {
    q.split(|c: char| c.is_whitespace() || matches!(c, '?' | ',' | '!' | ';'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '"' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

/// The event types a word names.
fn kinds_of(w: &str, next: Option<&str>) -> &'static [&'static str] {
    match w {
        "crash" | "crashes" | "crashed" | "crashing" => &["ActorCrashed", "NodeCrashed"],
        "fail" | "failed" | "fails" | "failure" | "failures" => &[
            "ActorCrashed",
            "NodeCrashed",
            "EmbeddingServiceDegraded",
            "SpawnFailed",
            "StopFailed",
        ],
        "restart" | "restarts" | "restarted" => &["ActorRestarted", "NodeRestarted"],
        "gave" | "give" | "gives" | "giving" if next == Some("up") => &["ActorGaveUp"],
        "escalated" | "escalations" => &["ActorGaveUp"],
        "offline" => &["AgentOffline"],
        "degraded" => &["AgentDegraded", "EmbeddingServiceDegraded"],
        "recovered" | "recover" | "recoveries" => &["AgentRecovered"],
        "registered" | "joined" => &["AgentRegistered"],
        "unregistered" | "left" => &["AgentUnregistered"],
        "heartbeat" | "heartbeats" => &["AgentHeartbeat"],
        "healthy" => &["NodeHealthy", "EmbeddingServiceHealthy"],
        "spawn" | "spawns" | "spawned" => &["SpawnRequested", "SpawnSucceeded", "SpawnFailed"],
        "stop" | "stops" | "stopped" => &["StopRequested", "StopSucceeded", "StopFailed"],
        "query" | "queries" | "questions" => &["QueryPerformance"],
        "pathfinding" | "searches" if w == "pathfinding" || next == Some("found") => {
            &["PathfindingMetrics"]
        }
        "committed" | "commits" => &["TransactionCommitted"],
        "aborted" | "aborts" => &["TransactionAborted"],
        "transaction" | "transactions" => &["TransactionCommitted", "TransactionAborted"],
        "embedding" | "embeddings" if next == Some("latency") || next == Some("batches") => {
            &["EmbeddingLatency"]
        }
        "index" | "indexes" | "indices" => &["HnswIndexBuilt", "HnswIndexLoaded"],
        "reconciliation" | "reconciliations" | "folds" => &["ReconciliationComplete"],
        "storage" => &["StorageMetrics"],
        "events" => EventKind::NAMES,
        _ => &[],
    }
}

/// Milliseconds in a unit word.
fn unit_ms(w: &str) -> Option<u64> {
    Some(match w.trim_end_matches('s') {
        "second" | "sec" => 1000,
        "minute" | "min" => MINUTE,
        "hour" | "hr" | "h" => HOUR,
        "day" => DAY,
        "week" => 7 * DAY,
        _ => return None,
    })
}

/// Reads a question about events, given the time it is asked (`now_ms`). `None`: not a
/// question about the system's events.
pub fn parse(question: &str, now_ms: u64) -> Option<EventQuery> {
    let ws = words(question);
    let w = |i: usize| ws.get(i).map(String::as_str);
    let mut kinds: Vec<&'static str> = Vec::new();
    for (i, word) in ws.iter().enumerate() {
        for k in kinds_of(word, w(i + 1)) {
            if !kinds.contains(k) {
                kinds.push(k);
            }
        }
    }
    // "events" alone means all of them; with another kind word, that kind.
    if kinds.len() > EventKind::NAMES.len() - 1 && ws.iter().any(|w| w != "events") {
        let named: Vec<&'static str> = ws
            .iter()
            .enumerate()
            .filter(|(_, x)| x.as_str() != "events")
            .flat_map(|(i, x)| kinds_of(x, w(i + 1)).iter().copied())
            .collect();
        if !named.is_empty() {
            kinds.retain(|k| named.contains(k));
        }
    }
    if kinds.is_empty() {
        return None;
    }
    let mut q = EventQuery {
        kinds,
        since_ms: None,
        window: None,
        actor: None,
        node: None,
        longer_than_ms: None,
        want: Want::List,
        explicit: false,
    };
    // The window.
    for (i, word) in ws.iter().enumerate() {
        match word.as_str() {
            "today" => {
                q.since_ms = Some(now_ms - now_ms % DAY);
                q.window = Some("today".into());
            }
            "yesterday" => {
                q.since_ms = Some(now_ms - now_ms % DAY - DAY);
                q.window = Some("since yesterday".into());
            }
            "this" if matches!(w(i + 1), Some("week" | "hour" | "minute")) => {
                let since = match w(i + 1) {
                    Some("week") => {
                        let day = now_ms / DAY;
                        // 1970-01-01 was a Thursday: Monday is 3 days before it.
                        (day - (day + 3) % 7) * DAY
                    }
                    Some("hour") => now_ms - now_ms % HOUR,
                    _ => now_ms - now_ms % MINUTE,
                };
                q.since_ms = Some(since);
                q.window = Some(format!("this {}", ws[i + 1]));
            }
            "last" | "past" => {
                // "in the last hour", "in the past 10 minutes", "last 2 days".
                let (n, unit) = match (w(i + 1), w(i + 2)) {
                    (Some(n), Some(u)) if n.parse::<u64>().is_ok() && unit_ms(u).is_some() => {
                        (n.parse::<u64>().unwrap_or(1), u)
                    }
                    (Some(u), _) if unit_ms(u).is_some() => (1, u),
                    _ => continue,
                };
                let span = n * unit_ms(unit).unwrap_or(HOUR);
                q.since_ms = Some(now_ms.saturating_sub(span));
                q.window = Some(if n == 1 {
                    format!("in the last {}", unit.trim_end_matches('s'))
                } else {
                    format!("in the last {n} {unit}")
                });
            }
            "since" => {
                if let Some(t) = w(i + 1) {
                    let original = question
                        .split_whitespace()
                        .find(|x| x.eq_ignore_ascii_case(t.trim_end_matches('?')))
                        .unwrap_or(t)
                        .trim_end_matches(['?', '.']);
                    if let Ok(at) = humantime::parse_rfc3339_weak(original) {
                        let ms = at
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as u64)
                            .unwrap_or(0);
                        q.since_ms = Some(ms);
                        q.window = Some(format!("since {}", rfc3339(ms)));
                    } else if let Ok(d) = humantime::parse_duration(t) {
                        q.since_ms = Some(now_ms.saturating_sub(d.as_millis() as u64));
                        q.window = Some(format!("in the last {t}"));
                    }
                }
            }
            _ => {}
        }
    }
    // A threshold: "longer than 100 ms", "slower than 2 seconds", "over 50ms".
    for (i, word) in ws.iter().enumerate() {
        let after = match (word.as_str(), w(i + 1)) {
            ("longer" | "slower" | "more" | "over", Some("than")) => i + 2,
            ("over" | "above", _) => i + 1,
            _ => continue,
        };
        let Some(t) = w(after) else { continue };
        let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
            Some(p) if p > 0 => (&t[..p], Some(&t[p..])),
            _ => (t, w(after + 1)),
        };
        if let Ok(n) = num.parse::<f64>() {
            let scale = match unit {
                Some("ms" | "millisecond" | "milliseconds") => 1.0,
                Some(u) => unit_ms(u).map_or(1.0, |m| m as f64),
                None => 1.0,
            };
            q.longer_than_ms = Some(n * scale);
        }
    }
    // Whose: "shard 2", "shard-2", "embedder", "node n2".
    for (i, word) in ws.iter().enumerate() {
        let x = word.as_str();
        if let Some(rest) = x.strip_prefix("shard-") {
            if rest.parse::<u32>().is_ok() {
                q.actor = Some(x.to_string());
            }
        } else if x == "shard" {
            if let Some(n) = w(i + 1).and_then(|n| n.parse::<u32>().ok()) {
                q.actor = Some(format!("shard-{n}"));
            }
        } else if x.starts_with("embedder") && q.actor.is_none() {
            q.actor = Some(if x.contains('-') {
                x.to_string()
            } else {
                "embedder".to_string()
            });
        } else if x == "node" {
            if let Some(n) = w(i + 1).filter(|n| !is_function_word(n)) {
                q.node = Some(n.to_string());
            }
        }
    }
    // What: "how many", "when ... last", "which nodes", else a list.
    let first = w(0).unwrap_or("");
    q.want = if first == "how" && w(1) == Some("many") {
        Want::Count
    } else if first == "when" {
        Want::Last
    } else if first == "which" || first == "what" && matches!(w(1), Some("nodes" | "node")) {
        let noun = w(1).unwrap_or("");
        if noun.starts_with("node") {
            Want::Which(Subject::Node)
        } else {
            Want::Which(Subject::Actor)
        }
    } else {
        Want::List
    };
    q.explicit = q.window.is_some()
        || q.actor.is_some()
        || q.node.is_some()
        || q.longer_than_ms.is_some()
        || ws.iter().any(|w| {
            w.starts_with("crash")
                || w.starts_with("restart")
                || matches!(w.as_str(), "offline" | "events")
        });
    // "Which nodes went offline": node-level kinds only.
    if let Want::Which(Subject::Node) = q.want {
        let node_kinds: Vec<&'static str> = q
            .kinds
            .iter()
            .copied()
            .filter(|k| k.starts_with("Agent") || k.starts_with("Node"))
            .collect();
        if !node_kinds.is_empty() {
            q.kinds = node_kinds;
        }
    }
    Some(q)
}

fn is_function_word(w: &str) -> bool {
    matches!(
        w,
        "went" | "was" | "is" | "did" | "has" | "had" | "crashed" | "restarted" | "failed"
    )
}

impl EventQuery {
    /// Whether `e` answers this query.
    pub fn matches(&self, e: &Event) -> bool {
        if !self.kinds.contains(&e.kind.name()) {
            return false;
        }
        if self.since_ms.is_some_and(|s| e.at_ms < s) {
            return false;
        }
        if let Some(a) = &self.actor {
            match e.kind.actor() {
                Some(actor) if actor == *a || actor.starts_with(&format!("{a}-")) => {}
                Some(actor) if a == "embedder" && actor.starts_with("embedder") => {}
                _ => return false,
            }
        }
        if let Some(n) = &self.node {
            if e.node != *n && e.kind.about_node() != Some(n.as_str()) {
                return false;
            }
        }
        if let Some(t) = self.longer_than_ms {
            if e.kind.millis().is_none_or(|ms| ms <= t) {
                return false;
            }
        }
        true
    }

    /// The matching events, oldest first, and the answer text. `events` may be in any
    /// order.
    pub fn answer<'a>(&self, events: &'a [Event]) -> (String, Vec<&'a Event>) {
        let mut hits: Vec<&Event> = events.iter().filter(|e| self.matches(e)).collect();
        hits.sort_by_key(|e| (e.at_ms, e.id.clone()));
        let window = self
            .window
            .as_ref()
            .map(|w| format!(" {w}"))
            .unwrap_or_default();
        let what = self.describe_kinds();
        // "1 crash", "2 crashes".
        let counted = |n: usize| {
            if n != 1 {
                return what.clone();
            }
            match what.as_str() {
                "crashes" => "crash".into(),
                "queries" => "query".into(),
                "restarts" => "restart".into(),
                w => w.replacen("events", "event", 1),
            }
        };
        if hits.is_empty() {
            return (format!("No {what}{window}."), hits);
        }
        match self.want {
            Want::Count => (
                format!(
                    "{} {}{window}{}.",
                    hits.len(),
                    counted(hits.len()),
                    self.longer_than_ms
                        .map(|t| format!(" took longer than {t} ms"))
                        .unwrap_or_default()
                ),
                hits,
            ),
            Want::Last => {
                let last = hits[hits.len() - 1];
                (
                    format!(
                        "At {} on node {}: {}.",
                        rfc3339(last.at_ms),
                        last.node,
                        last.kind.describe()
                    ),
                    vec![last],
                )
            }
            Want::Which(subject) => {
                let mut names: Vec<String> = Vec::new();
                for e in &hits {
                    let name = match subject {
                        Subject::Node => e.kind.about_node().unwrap_or(&e.node).to_string(),
                        Subject::Actor => {
                            e.kind.actor().unwrap_or_else(|| format!("node {}", e.node))
                        }
                    };
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                (
                    format!(
                        "{}{window}: {} ({} events).",
                        match subject {
                            Subject::Node => "Nodes",
                            Subject::Actor => "Actors",
                        },
                        names.join(", "),
                        hits.len()
                    ),
                    hits,
                )
            }
            Want::List => {
                let lines: Vec<String> = hits.iter().map(|e| e.sentence()).collect();
                (
                    format!(
                        "{} {}{window}: {}.",
                        hits.len(),
                        counted(hits.len()),
                        lines.join("; ")
                    ),
                    hits,
                )
            }
        }
    }

    fn describe_kinds(&self) -> String {
        if self.kinds.len() == EventKind::NAMES.len() {
            return "events".into();
        }
        let all =
            |ks: &[&str]| ks.iter().all(|k| self.kinds.contains(k)) && self.kinds.len() == ks.len();
        if all(&["ActorCrashed", "NodeCrashed"]) {
            "crashes".into()
        } else if all(&["QueryPerformance"]) {
            "queries".into()
        } else if all(&["ActorRestarted", "NodeRestarted"]) || all(&["ActorRestarted"]) {
            "restarts".into()
        } else {
            format!("events of type {}", self.kinds.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-07T10:00:00Z
    const NOW: u64 = 1_796_637_600_000;

    fn ev(at_ms: u64, kind: EventKind) -> Event {
        Event {
            id: format!("n1-0-{at_ms}"),
            node: "n1".into(),
            at_ms,
            request_id: None,
            kind,
        }
    }

    /// Every event type is reachable by some plain question (SPEC §8: each found by an
    /// English question as well as by `/v1/events`).
    #[test]
    fn every_event_type_is_named_by_some_question() {
        let questions = [
            "Show all crashes in the last hour",
            "When did shard 2 last restart?",
            "Which actors gave up today?",
            "Which nodes went offline this week?",
            "Which agents degraded or recovered today?",
            "Which agents registered or unregistered today?",
            "Show the heartbeats of the last minute",
            "When was the node healthy?",
            "Show spawns and stops today",
            "How many queries took longer than 100 ms today?",
            "Show pathfinding metrics today",
            "How many transactions committed or aborted today?",
            "Show embedding latency today",
            "When was the index built or loaded?",
            "Show reconciliations and storage today",
        ];
        let mut reached: Vec<&str> = Vec::new();
        for q in questions {
            let read = parse(q, NOW).unwrap_or_else(|| panic!("not read: {q}"));
            reached.extend(read.kinds);
        }
        let missing: Vec<&&str> = EventKind::NAMES
            .iter()
            .filter(|k| !reached.contains(k))
            .collect();
        assert!(missing.is_empty(), "no question names {missing:?}");
    }

    #[test]
    fn the_issue_questions_are_read() {
        let q = parse("Show all crashes in the last hour", NOW).unwrap();
        assert_eq!(q.kinds, vec!["ActorCrashed", "NodeCrashed"]);
        assert_eq!(q.since_ms, Some(NOW - HOUR));
        assert_eq!(q.want, Want::List);
        assert!(q.explicit);
        assert!(
            !parse("Is Tumkraket a zoryumketu index?", NOW)
                .unwrap()
                .explicit
        );

        let q = parse("Which embedder replica failed today?", NOW).unwrap();
        assert_eq!(q.actor.as_deref(), Some("embedder"));
        assert_eq!(q.since_ms, Some(NOW - NOW % DAY));
        assert_eq!(q.want, Want::Which(Subject::Actor));

        let q = parse("When did shard 2 last restart?", NOW).unwrap();
        assert_eq!(q.actor.as_deref(), Some("shard-2"));
        assert_eq!(q.want, Want::Last);
        assert!(q.kinds.contains(&"ActorRestarted"));

        let q = parse("How many queries took longer than 100 ms today?", NOW).unwrap();
        assert_eq!(q.kinds, vec!["QueryPerformance"]);
        assert_eq!(q.longer_than_ms, Some(100.0));
        assert_eq!(q.want, Want::Count);

        let q = parse("Which actors did their supervisor give up on today?", NOW).unwrap();
        assert_eq!(q.kinds, vec!["ActorGaveUp"]);
        assert_eq!(q.want, Want::Which(Subject::Actor));
        let q = parse("Which nodes left the grid today?", NOW).unwrap();
        assert_eq!(q.kinds, vec!["AgentUnregistered"]);

        let q = parse("Which nodes went offline this week?", NOW).unwrap();
        assert_eq!(q.kinds, vec!["AgentOffline"]);
        assert_eq!(q.want, Want::Which(Subject::Node));
        // Monday 2026-12-07 00:00 UTC.
        assert_eq!(q.since_ms, Some(NOW - 10 * HOUR));

        let q = parse("List events since 10m", NOW).unwrap();
        assert_eq!(q.kinds.len(), EventKind::NAMES.len());
        assert_eq!(q.since_ms, Some(NOW - 10 * MINUTE));
        let q = parse("Show crashes since 2026-12-07T09:00:00Z", NOW).unwrap();
        assert_eq!(q.since_ms, Some(NOW - HOUR));
        let q = parse("How many queries took longer than 2 seconds?", NOW).unwrap();
        assert_eq!(q.longer_than_ms, Some(2000.0));
    }

    #[test]
    fn questions_about_the_world_are_left_alone() {
        for q in [
            "Is a poodle a dog?",
            "Where is Mary?",
            "What is Gertrude afraid of?",
            "How do you go from the den to the kitchen?",
        ] {
            assert_eq!(parse(q, NOW), None, "{q}");
        }
    }

    #[test]
    fn answers_filter_by_kind_time_actor_and_threshold() {
        let events = vec![
            ev(
                NOW - 2 * HOUR,
                EventKind::ActorCrashed {
                    actor: "shard-1".into(),
                    error: "old".into(),
                },
            ),
            ev(
                NOW - 30 * MINUTE,
                EventKind::ActorCrashed {
                    actor: "shard-2".into(),
                    error: "boom".into(),
                },
            ),
            ev(
                NOW - 20 * MINUTE,
                EventKind::ActorCrashed {
                    actor: "embedder-1".into(),
                    error: "killed".into(),
                },
            ),
            ev(
                NOW - 19 * MINUTE,
                EventKind::ActorRestarted {
                    actor: "shard-2".into(),
                    restarts: 1,
                },
            ),
            ev(
                NOW - 10 * MINUTE,
                EventKind::ActorRestarted {
                    actor: "shard-2".into(),
                    restarts: 2,
                },
            ),
            ev(
                NOW - 5 * MINUTE,
                EventKind::QueryPerformance {
                    kb: "default".into(),
                    ms: 150.0,
                    verdict: "yes".into(),
                },
            ),
            ev(
                NOW - 4 * MINUTE,
                EventKind::QueryPerformance {
                    kb: "default".into(),
                    ms: 50.0,
                    verdict: "yes".into(),
                },
            ),
            ev(
                NOW - 3 * MINUTE,
                EventKind::AgentOffline {
                    agent: "n3".into(),
                    reason: "no heartbeat".into(),
                },
            ),
        ];
        let (text, hits) = parse("Show all crashes in the last hour", NOW)
            .unwrap()
            .answer(&events);
        assert_eq!(hits.len(), 2, "{text}");
        assert!(
            text.contains("shard-2 crashed: boom") && text.contains("embedder-1"),
            "{text}"
        );
        assert!(!text.contains("old"), "{text}");

        let (text, hits) = parse("Which embedder replica failed today?", NOW)
            .unwrap()
            .answer(&events);
        assert_eq!(hits.len(), 1);
        assert!(text.contains("embedder-1"), "{text}");

        let (text, hits) = parse("When did shard 2 last restart?", NOW)
            .unwrap()
            .answer(&events);
        assert_eq!(hits.len(), 1);
        assert!(
            text.contains("restart 2") && text.contains(&rfc3339(NOW - 10 * MINUTE)),
            "{text}"
        );

        let (text, hits) = parse("How many queries took longer than 100 ms today?", NOW)
            .unwrap()
            .answer(&events);
        assert_eq!(hits.len(), 1);
        assert!(text.starts_with("1 query today"), "{text}");

        let (text, _) = parse("Which nodes went offline this week?", NOW)
            .unwrap()
            .answer(&events);
        assert!(text.contains("n3"), "{text}");

        let (text, hits) = parse("Show all crashes in the last minute", NOW)
            .unwrap()
            .answer(&events);
        assert!(hits.is_empty());
        assert_eq!(text, "No crashes in the last minute.");
    }
}
