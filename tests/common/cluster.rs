//! Helpers for tests that run several `sutra-node` processes from one topology on
//! 127.0.0.1 (tests/cluster.rs, tests/cluster_crash.rs): the 3-node test topology,
//! starting a node of it, the grid master's view, and where the engine places shards,
//! entities and concept ids in that topology.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The text of an `n`-node topology on free loopback ports: `2n` shards, node `i` (from
/// 0) holding shards `i` and `i + n`, no embedders; n1 is the master. The cookie is
/// written `COOKIE`, for the caller to fill in.
pub fn topology_text(n: usize) -> String {
    let ports = super::free_ports(2 * n);
    let mut text = format!(
        "[cluster]\nname = \"t\"\ncookie = \"COOKIE\"\nshards = {}\n",
        2 * n
    );
    for i in 0..n {
        let roles = if i == 0 {
            r#"["master", "storage", "ingress"]"#
        } else {
            r#"["storage", "ingress"]"#
        };
        text += &format!(
            "\n[[nodes]]\nname = \"n{}\"\ncluster_addr = \"127.0.0.1:{}\"\nhttp_addr = \"127.0.0.1:{}\"\ndata_dir = \"d{}\"\nroles = {roles}\nshards = [{}, {}]\nembedder_replicas = 0\n",
            i + 1,
            ports[2 * i],
            ports[2 * i + 1],
            i + 1,
            i,
            i + n
        );
    }
    text
}

/// A 3-node topology: 6 shards, 2 per node; n1 is the master. Returns the file with the
/// right cookie and a copy with `cookie_of_n3` (default "wrong").
pub fn topology(
    dir: &Path,
    cookie_of_n3: Option<&str>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let text = topology_text(3);
    let good = dir.join("cluster.toml");
    std::fs::write(&good, text.replace("COOKIE", "right")).unwrap();
    let other = dir.join("other-cookie.toml");
    std::fs::write(
        &other,
        text.replace("COOKIE", cookie_of_n3.unwrap_or("wrong")),
    )
    .unwrap();
    (good, other)
}

/// Starts node `name` of `config` (data under `dir/name`); panics with its log if it
/// does not start.
pub fn start(config: &Path, dir: &Path, name: &str) -> super::Node {
    super::try_start_with(config, &dir.join(name), &["--node", name])
        .unwrap_or_else(|log| panic!("{name} failed to start:\n{log}"))
}

/// `/v1/cluster` through `node`, once it answers.
pub fn cluster_view(node: &super::Node) -> Option<Value> {
    let (status, view) = node.get("/v1/cluster");
    (status == 200).then_some(view)
}

/// Node `name`'s entry of a `/v1/cluster` view.
pub fn node_entry<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {view}"))
}

/// Polls `/v1/cluster` on `node` until `ok` holds for it, or panics after `secs`.
pub fn wait_view(node: &super::Node, secs: u64, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    loop {
        if let Some(view) = cluster_view(node) {
            if ok(&view) {
                return view;
            }
            last = view;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened within {secs} s; last view: {last}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Node `name`'s state in a `/v1/cluster` view.
pub fn state_of(view: &Value, name: &str) -> String {
    node_entry(view, name)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The node of shard `s` in [`topology`] (n1 holds shards 0 and 3, n2 1 and 4, n3 2
/// and 5).
pub fn node_of_shard(s: u32) -> usize {
    (s % 3) as usize + 1
}

/// The node holding entity `name` of the default knowledge base in [`topology`].
pub fn node_of_entity(name: &str) -> usize {
    use sutra::graph::{ConceptId, ConceptKind};
    let key = sutra::learn::normalize::entity_key(name);
    node_of_shard(ConceptId::derive(ConceptKind::Entity, &key).shard(6))
}

/// The node of a concept id as the API prints it.
pub fn node_of_id(id: &str) -> usize {
    let id: sutra::graph::ConceptId = id.parse().unwrap();
    node_of_shard(id.shard(6))
}

/// `len` entity names `{prefix} k` whose shards lie on the nodes of `nodes`, cycled.
pub fn names_on(prefix: &str, nodes: &[usize], len: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut k = 0;
    while names.len() < len {
        let name = format!("{prefix} {k}");
        if node_of_entity(&name) == nodes[names.len() % nodes.len()] {
            names.push(name);
        }
        k += 1;
    }
    names
}

/// Posts until the cluster takes it (peers connect in the background).
pub fn post_eventually(node: &super::Node, path: &str, body: Value, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, reply) = node.post(path, body.clone());
        if status == 200 {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never succeeded: {status} {reply}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
